import { Empty } from 'antd';
import { PageHeader } from '../../components/common';

export default function ScriptsPage() {
  return (
    <>
      <PageHeader title="Script Lab" />
      <Empty description="Not built yet" />
    </>
  );
}
