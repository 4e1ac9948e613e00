import { Empty } from 'antd';
import { PageHeader } from '../../components/common';

export default function JobWizard() {
  return (
    <>
      <PageHeader title="New job" />
      <Empty description="Not built yet" />
    </>
  );
}
