import { Empty } from 'antd';
import { PageHeader } from '../../components/common';

export default function UsersPage() {
  return (
    <>
      <PageHeader title="Users" />
      <Empty description="Not built yet" />
    </>
  );
}
