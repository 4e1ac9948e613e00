// The frame around every page: a collapsible sidebar on wide screens, a
// drawer behind a hamburger button on phones, and a header with the user.
import {
  AlertOutlined,
  ApiOutlined,
  AuditOutlined,
  CloudServerOutlined,
  CodeOutlined,
  DashboardOutlined,
  DatabaseOutlined,
  ExperimentOutlined,
  KeyOutlined,
  LineChartOutlined,
  LogoutOutlined,
  MenuOutlined,
  PlayCircleOutlined,
  TeamOutlined,
  UserOutlined,
} from '@ant-design/icons';
import { Button, Drawer, Layout, Menu, Space, Tag, Typography, type MenuProps } from 'antd';
import { Suspense, useState, type ReactNode } from 'react';
import { Link, useLocation, useNavigate } from 'react-router-dom';
import { isAdmin } from '../api/types';
import { useAuth } from '../auth/AuthContext';
import { useNotify } from '../components/common';
import { Loading } from './Loading';
import { useMinWidth } from './useMinWidth';

type Item = Required<MenuProps>['items'][number];

function menuItems(admin: boolean): Item[] {
  const l = (to: string, text: string) => <Link to={to}>{text}</Link>;
  const items: Item[] = [
    { key: '/', icon: <DashboardOutlined />, label: l('/', 'Overview') },
    { key: '/datasets', icon: <DatabaseOutlined />, label: l('/datasets', 'Datasets') },
    { key: '/scripts', icon: <CodeOutlined />, label: l('/scripts', 'Script Lab') },
    { key: '/jobs', icon: <PlayCircleOutlined />, label: l('/jobs', 'Jobs') },
    { key: '/nodes', icon: <CloudServerOutlined />, label: l('/nodes', 'Nodes') },
    { key: '/monitoring', icon: <LineChartOutlined />, label: l('/monitoring', 'Monitoring') },
    { key: '/alerts', icon: <AlertOutlined />, label: l('/alerts', 'Alerts') },
    { key: '/models', icon: <ExperimentOutlined />, label: l('/models', 'Models') },
    { key: '/tokens', icon: <KeyOutlined />, label: l('/tokens', 'API tokens') },
  ];
  if (admin) {
    items.push({
      key: 'admin',
      icon: <ApiOutlined />,
      label: 'Admin',
      children: [
        { key: '/admin/users', icon: <UserOutlined />, label: l('/admin/users', 'Users') },
        { key: '/admin/groups', icon: <TeamOutlined />, label: l('/admin/groups', 'Groups') },
        { key: '/admin/audit', icon: <AuditOutlined />, label: l('/admin/audit', 'Audit log') },
      ],
    });
  }
  return items;
}

/** The menu key of a path: its first segment ("/jobs/j_1" → "/jobs"). */
export function selectedKey(path: string): string {
  if (path.startsWith('/admin/')) return path.split('/').slice(0, 3).join('/');
  const first = path.split('/')[1];
  return first ? `/${first}` : '/';
}

export function Shell({ children }: { children: ReactNode }) {
  const { user, logout } = useAuth();
  const notify = useNotify();
  const nav = useNavigate();
  const loc = useLocation();
  // antd's md breakpoint (screenMD)
  const phone = !useMinWidth(768);
  // The Sider's own breakpoint (lg) collapses it as the window narrows; not
  // when the window went down to a phone's width, where the Sider goes away:
  // it would come back collapsed and unfold (the menu's text fading in).
  const onCollapse = (c: boolean, type: 'clickTrigger' | 'responsive') => {
    if (type !== 'responsive' || window.matchMedia('(min-width: 768px)').matches) setCollapsed(c);
  };
  const [collapsed, setCollapsed] = useState(false);
  const [drawer, setDrawer] = useState(false);
  const key = selectedKey(loc.pathname);
  const menu = (
    <Menu
      theme="dark"
      mode="inline"
      selectedKeys={[key]}
      defaultOpenKeys={key.startsWith('/admin') ? ['admin'] : []}
      items={menuItems(isAdmin(user))}
      onClick={() => setDrawer(false)}
    />
  );
  const brand = (
    <Link to="/" className="brand" aria-label="Sentinel home">
      <img src="/favicon.svg" alt="" width={24} height={24} />
      {!(collapsed && !phone) && <span>Sentinel</span>}
    </Link>
  );
  return (
    <Layout className="shell">
      {!phone && (
        <Layout.Sider collapsible collapsed={collapsed} onCollapse={onCollapse} width={220} breakpoint="lg">
          {brand}
          <nav aria-label="Main">{menu}</nav>
        </Layout.Sider>
      )}
      {phone && (
        <Drawer placement="left" open={drawer} onClose={() => setDrawer(false)} width={240} title={brand}>
          <nav aria-label="Main">{menu}</nav>
        </Drawer>
      )}
      <Layout>
        <Layout.Header className="shell-header">
          {phone ? (
            <Button type="text" aria-label="Open the menu" icon={<MenuOutlined />} onClick={() => setDrawer(true)} />
          ) : (
            <span />
          )}
          <Space>
            <Typography.Text>
              <UserOutlined /> {user?.username}
            </Typography.Text>
            {user && user.role !== 'member' && <Tag color="cyan">{user.role}</Tag>}
            <Button
              type="text"
              icon={<LogoutOutlined />}
              aria-label="Log out"
              onClick={() =>
                logout().then(
                  () => nav('/login'),
                  (e) => notify.fail(e, 'Logging out failed'),
                )
              }
            >
              {!phone && 'Log out'}
            </Button>
          </Space>
        </Layout.Header>
        <Layout.Content className="shell-content">
          <main>
            <Suspense fallback={<Loading />}>{children}</Suspense>
          </main>
        </Layout.Content>
      </Layout>
    </Layout>
  );
}
