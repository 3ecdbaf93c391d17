import { Immutability } from './Immutability';
import { Quota } from './Quota';
import { Retention } from './Retention';

/**
 * A project's storage lifecycle: retention, tag immutability and quota. Members who may read the
 * policies see them; those who may manage them edit them; only system administrators set quotas.
 */
export function Policies({ project, canManage, canSetQuota }: { project: string; canManage: boolean; canSetQuota: boolean }) {
  return (
    <>
      <Retention project={project} canManage={canManage} />
      <Immutability project={project} canManage={canManage} />
      <Quota project={project} canEdit={canSetQuota} />
    </>
  );
}
