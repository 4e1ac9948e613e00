import { Empty } from 'antd';
import { PageHeader } from '../../components/common';

export default function JobsPage() {
  return (
    <>
      <PageHeader title="Jobs" />
      <Empty description="Not built yet" />
    </>
  );
}
