import { Empty } from 'antd';
import { PageHeader } from '../../components/common';

export default function AlertsPage() {
  return (
    <>
      <PageHeader title="Alerts" />
      <Empty description="Not built yet" />
    </>
  );
}
