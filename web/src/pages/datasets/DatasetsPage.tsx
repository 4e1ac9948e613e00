import { Empty } from 'antd';
import { PageHeader } from '../../components/common';

export default function DatasetsPage() {
  return (
    <>
      <PageHeader title="Datasets" />
      <Empty description="Not built yet" />
    </>
  );
}
