import { Empty } from 'antd';
import { PageHeader } from '../../components/common';

export default function ModelPage() {
  return (
    <>
      <PageHeader title="Model" />
      <Empty description="Not built yet" />
    </>
  );
}
