// Routes. Every page is its own lazily loaded module, so that the first
// load carries only the shell and the page asked for.
import { lazy, Suspense, type ComponentType, type ReactNode } from 'react';
import { Navigate, Route, Routes, useLocation } from 'react-router-dom';
import { isAdmin } from './api/types';
import { useAuth } from './auth/AuthContext';
import { Loading } from './layout/Loading';
import { Shell } from './layout/Shell';
import { NotFound } from './pages/NotFound';

const page = (load: () => Promise<{ default: ComponentType }>) => lazy(load);

const Login = page(() => import('./pages/login/LoginPage'));
const Overview = page(() => import('./pages/overview/OverviewPage'));
const Tokens = page(() => import('./pages/tokens/TokensPage'));
const Datasets = page(() => import('./pages/datasets/DatasetsPage'));
const Dataset = page(() => import('./pages/datasets/DatasetPage'));
const Scripts = page(() => import('./pages/scripts/ScriptsPage'));
const Script = page(() => import('./pages/scripts/ScriptPage'));
const Jobs = page(() => import('./pages/jobs/JobsPage'));
const JobWizard = page(() => import('./pages/jobs/JobWizard'));
const Job = page(() => import('./pages/jobs/JobPage'));
const Nodes = page(() => import('./pages/nodes/NodesPage'));
const Monitoring = page(() => import('./pages/monitoring/MonitoringPage'));
const Alerts = page(() => import('./pages/monitoring/AlertsPage'));
const Models = page(() => import('./pages/models/ModelsPage'));
const Model = page(() => import('./pages/models/ModelPage'));
const Users = page(() => import('./pages/admin/UsersPage'));
const Groups = page(() => import('./pages/admin/GroupsPage'));
const Audit = page(() => import('./pages/admin/AuditPage'));

function RequireUser({ children, admin }: { children: ReactNode; admin?: boolean }) {
  const { user, loading } = useAuth();
  const loc = useLocation();
  if (loading) return <Loading />;
  if (!user) return <Navigate to={`/login?next=${encodeURIComponent(loc.pathname + loc.search)}`} replace />;
  if (admin && !isAdmin(user)) return <NotFound what="This page is for administrators." />;
  return <Shell>{children}</Shell>;
}

export function App() {
  const r = (el: ReactNode, admin?: boolean) => <RequireUser admin={admin}>{el}</RequireUser>;
  return (
    <Suspense fallback={<Loading />}>
      <Routes>
        <Route path="/login" element={<Login />} />
        <Route path="/" element={r(<Overview />)} />
        <Route path="/tokens" element={r(<Tokens />)} />
        <Route path="/datasets" element={r(<Datasets />)} />
        <Route path="/datasets/:name" element={r(<Dataset />)} />
        <Route path="/scripts" element={r(<Scripts />)} />
        <Route path="/scripts/:name" element={r(<Script />)} />
        <Route path="/jobs" element={r(<Jobs />)} />
        <Route path="/jobs/new" element={r(<JobWizard />)} />
        <Route path="/jobs/:id" element={r(<Job />)} />
        <Route path="/nodes" element={r(<Nodes />)} />
        <Route path="/monitoring" element={r(<Monitoring />)} />
        <Route path="/alerts" element={r(<Alerts />)} />
        <Route path="/models" element={r(<Models />)} />
        <Route path="/models/:name" element={r(<Model />)} />
        <Route path="/admin/users" element={r(<Users />, true)} />
        <Route path="/admin/groups" element={r(<Groups />, true)} />
        <Route path="/admin/audit" element={r(<Audit />, true)} />
        <Route path="*" element={r(<NotFound />)} />
      </Routes>
    </Suspense>
  );
}
