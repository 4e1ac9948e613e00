import { Empty } from 'antd';
import { PageHeader } from '../../components/common';

export default function DatasetPage() {
  return (
    <>
      <PageHeader title="Dataset" />
      <Empty description="Not built yet" />
    </>
  );
}
