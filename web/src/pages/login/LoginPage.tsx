import { LockOutlined, UserOutlined } from '@ant-design/icons';
import { Alert, Button, Card, Form, Input, Typography } from 'antd';
import { useState } from 'react';
import { Navigate, useNavigate, useSearchParams } from 'react-router-dom';
import { describeError } from '../../api/client';
import { useAuth } from '../../auth/AuthContext';

/** Only same-site paths are followed after login (no open redirect). */
export function safeNext(next: string | null): string {
  return next && next.startsWith('/') && !next.startsWith('//') ? next : '/';
}

function LoginPageInner() {
  const { user, login } = useAuth();
  const nav = useNavigate();
  const [params] = useSearchParams();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [caps, setCaps] = useState(false);
  const next = safeNext(params.get('next'));
  if (user) return <Navigate to={next} replace />;
  const submit = async (v: { username: string; password: string }) => {
    setBusy(true);
    setError(undefined);
    try {
      await login(v.username, v.password);
      nav(next, { replace: true });
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="login">
      <Card style={{ width: 360, maxWidth: '92vw' }}>
        <Typography.Title level={1} style={{ fontSize: 24, textAlign: 'center', marginBottom: 4 }}>
          <img src="/favicon.svg" alt="" width={28} height={28} style={{ verticalAlign: 'middle', marginRight: 8 }} />
          Sentinel
        </Typography.Title>
        <Typography.Paragraph type="secondary" style={{ textAlign: 'center' }}>
          Log in to the console
        </Typography.Paragraph>
        {error && <Alert type="error" showIcon message={error} style={{ marginBottom: 16 }} role="alert" />}
        <Form layout="vertical" onFinish={submit} requiredMark={false}>
          <Form.Item label="Username" name="username" rules={[{ required: true, message: 'Enter your username' }]}>
            <Input prefix={<UserOutlined />} autoComplete="username" autoFocus />
          </Form.Item>
          <Form.Item
            label="Password"
            name="password"
            rules={[{ required: true, message: 'Enter your password' }]}
            extra={caps ? <span role="status">Caps Lock is on</span> : undefined}
          >
            <Input.Password
              prefix={<LockOutlined />}
              autoComplete="current-password"
              onKeyUp={(e) => setCaps(e.getModifierState('CapsLock'))}
            />
          </Form.Item>
          <Button type="primary" htmlType="submit" block loading={busy}>
            Log in
          </Button>
          <Typography.Paragraph type="secondary" style={{ marginTop: 16, marginBottom: 0, fontSize: 12, textAlign: 'center' }}>
            Forgot your password? An administrator can reset it.
          </Typography.Paragraph>
        </Form>
      </Card>
    </main>
  );
}

export default function LoginPage() {
  return (
    <>
      <LoginPageInner />
    </>
  );
}
