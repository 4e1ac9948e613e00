import { Empty } from 'antd';
import { PageHeader } from '../../components/common';

export default function AuditPage() {
  return (
    <>
      <PageHeader title="Audit log" />
      <Empty description="Not built yet" />
    </>
  );
}
