import { Empty } from 'antd';
import { PageHeader } from '../../components/common';

export default function MonitoringPage() {
  return (
    <>
      <PageHeader title="Monitoring" />
      <Empty description="Not built yet" />
    </>
  );
}
