import { Empty } from 'antd';
import { PageHeader } from '../../components/common';

export default function GroupsPage() {
  return (
    <>
      <PageHeader title="Groups" />
      <Empty description="Not built yet" />
    </>
  );
}
