import { Empty } from 'antd';
import { PageHeader } from '../../components/common';

export default function OverviewPage() {
  return (
    <>
      <PageHeader title="Overview" />
      <Empty description="Not built yet" />
    </>
  );
}
