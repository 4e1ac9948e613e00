import { Empty } from 'antd';
import { PageHeader } from '../../components/common';

export default function NodesPage() {
  return (
    <>
      <PageHeader title="Nodes" />
      <Empty description="Not built yet" />
    </>
  );
}
