import { Empty } from 'antd';
import { PageHeader } from '../../components/common';

export default function TokensPage() {
  return (
    <>
      <PageHeader title="API tokens" />
      <Empty description="Not built yet" />
    </>
  );
}
