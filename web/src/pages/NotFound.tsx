import { Button, Result } from 'antd';
import { Link } from 'react-router-dom';

export function NotFound({ what }: { what?: string }) {
  return (
    <Result
      status="404"
      title="Not found"
      subTitle={what ?? 'There is no page at this address.'}
      extra={
        <Link to="/">
          <Button type="primary">Overview</Button>
        </Link>
      }
    />
  );
}
