import { Empty } from 'antd';
import { PageHeader } from '../../components/common';

export default function ScriptPage() {
  return (
    <>
      <PageHeader title="Script" />
      <Empty description="Not built yet" />
    </>
  );
}
