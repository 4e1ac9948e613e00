// Whether the viewport is at least `px` wide, right from the first render.
// antd's Grid.useBreakpoint() knows nothing before its layout effect: a
// shell that asked it rendered the phone layout first, then at once,
// synchronously in the same task, the desktop one (sider and menu with all
// their styles), which made the first commit the longest task of a load.
import { useCallback, useSyncExternalStore } from 'react';

export function useMinWidth(px: number): boolean {
  const query = `(min-width: ${px}px)`;
  const subscribe = useCallback(
    (changed: () => void) => {
      const mq = window.matchMedia(query);
      mq.addEventListener('change', changed);
      return () => mq.removeEventListener('change', changed);
    },
    [query],
  );
  return useSyncExternalStore(
    subscribe,
    () => window.matchMedia(query).matches,
    () => true,
  );
}
