import { Empty } from 'antd';
import { PageHeader } from '../../components/common';

export default function JobPage() {
  return (
    <>
      <PageHeader title="Job" />
      <Empty description="Not built yet" />
    </>
  );
}
