import { Empty } from 'antd';
import { PageHeader } from '../../components/common';

export default function ModelsPage() {
  return (
    <>
      <PageHeader title="Models" />
      <Empty description="Not built yet" />
    </>
  );
}
