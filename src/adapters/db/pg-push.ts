import { sql, type Kysely, type Transaction } from 'kysely';
import type { Digest } from '../../domain/digest.js';
import type { OutboxEvent } from '../../ports/event-store.js';
import type { Schema } from './schema.js';

/**
 * A push's writes on PostgreSQL as server-side functions, one round trip each: the pin a
 * writer takes before it writes a manifest's bytes (`berth_pin_blob`), the record of a pushed
 * manifest (`berth_put_manifest`), a tag moved to a manifest the repository holds
 * (`berth_push_held`), a manifest's delete (`berth_delete_manifest`) and a cross-repository
 * mount (`berth_mount_blob`). Each runs the statements the multi-statement versions send one by one
 * (SQLite still runs those: its statements are calls in the same process), in the same order
 * and under the same row locks (docs/lifecycle.md, "One lock order"), and PL/pgSQL keeps each
 * statement's plan for the connection. A push that sent 13 statements with their `begin` and
 * `commit` sends 3 (docs/performance.md, "One round trip per push").
 *
 * Created by migration 0026. A function a released Berth calls is never changed in place, since
 * during a rolling upgrade that release still calls it: a change is a new function under a new
 * name, made by a new migration (docs/upgrades.md, "Expand").
 *
 * Inside a function each statement sees what committed before it began (PostgreSQL's READ
 * COMMITTED runs each statement of a volatile function with a new snapshot), as the separate
 * statements did.
 */
export const pushFunctionsV1 = sql.raw(String.raw`
create or replace function berth_pin_blob(p_digest text, p_token text, p_until bigint, p_now bigint)
returns table (o_quarantined boolean, o_removing_since bigint)
language plpgsql as $$
declare
  v_row record;
begin
  insert into blob_pin (digest, token, until) values (p_digest, p_token, p_until)
    on conflict (digest, token) do update set until = excluded.until;
  -- A deletion marked but not carried out is called off under the row lock; one being carried
  -- out (deleting = 2) is not, and this read, taken after the lock was granted, sees it.
  update blob set deleting = 0, touched_at = p_now where digest = p_digest and deleting = 1;
  select b.quarantine, b.deleting, b.touched_at into v_row from blob b where b.digest = p_digest;
  if not found then
    return query select false, null::bigint;
  elsif v_row.deleting = 2 then
    return query select false, v_row.touched_at::bigint;
  else
    return query select v_row.quarantine is not null, null::bigint;
  end if;
end
$$;

create or replace function berth_point_tag(p_repository_id bigint, p_tag text, p_digest text, p_now bigint, p_must_not_move boolean)
returns void
language plpgsql as $$
declare
  v_current text;
begin
  -- The repository row first (its tag version), as every tag change takes it; a tag that must not
  -- move and points at another manifest is an error, which rolls the whole change back.
  update repository set tag_version = tag_version + 1 where id = p_repository_id;
  if p_must_not_move then
    select t.manifest_digest into v_current from tag t where t.repository_id = p_repository_id and t.name = p_tag;
    if found and v_current <> p_digest then
      raise exception 'tag % points at %', p_tag, v_current using errcode = 'BT001', detail = v_current;
    end if;
  end if;
  insert into tag (repository_id, name, manifest_digest, updated_at) values (p_repository_id, p_tag, p_digest, p_now)
    on conflict (repository_id, name) do update set manifest_digest = excluded.manifest_digest, updated_at = excluded.updated_at;
end
$$;

create or replace function berth_put_manifest(
  p_repository_id bigint, p_project text, p_digest text, p_media_type text, p_artifact_type text,
  p_subject_digest text, p_config_digest text, p_size bigint, p_annotations text,
  p_blobs text[], p_manifests text[], p_ref_digests text[], p_ref_kinds text[], p_counted text[],
  p_pin text, p_now bigint, p_touch_before bigint, p_tag text, p_tag_must_not_move boolean,
  p_event_types text[], p_event_projects text[], p_event_repositories text[],
  p_payloads_created text[], p_payloads_existing text[])
returns table (o_created boolean, o_missing_blobs text[], o_missing_manifests text[], o_usage_bytes bigint, o_usage_artifacts bigint, o_added_bytes bigint)
language plpgsql as $$
declare
  v_found text[];
  v_missing_blobs text[];
  v_missing_manifests text[];
  v_row record;
  v_created_at bigint;
  v_new boolean;
  v_bytes bigint;
  v_artifacts bigint;
  v_added bigint;
begin
  -- The references, held (shared) against the collector: each blob linked into the repository
  -- and usable, each manifest in it.
  select coalesce(array_agg(x.digest), '{}') into v_found from (
    select rb.digest from repository_blob rb join blob b on b.digest = rb.digest
    where rb.repository_id = p_repository_id and rb.digest = any(p_blobs) and b.deleting = 0 and b.quarantine is null
    order by rb.digest for share) x;
  v_missing_blobs := array(select d from unnest(p_blobs) with ordinality u(d, i) where not (d = any(v_found)) order by i);
  select coalesce(array_agg(x.digest), '{}') into v_found from (
    select m.digest from manifest m where m.repository_id = p_repository_id and m.digest = any(p_manifests)
    order by m.digest for share) x;
  v_missing_manifests := array(select d from unnest(p_manifests) with ordinality u(d, i) where not (d = any(v_found)) order by i);
  if cardinality(v_missing_blobs) > 0 or cardinality(v_missing_manifests) > 0 then
    return query select false, v_missing_blobs, v_missing_manifests, null::bigint, null::bigint, null::bigint;
    return;
  end if;

  -- The content's row: inserted, or held and its grace period restarted when due, a marked
  -- deletion called off, a quarantine lifted (this push's bytes, their digest checked, replace it).
  insert into blob (digest, size, created_at, touched_at) values (p_digest, p_size, p_now, p_now)
    on conflict (digest) do nothing;
  if not found then
    select b.touched_at, b.deleting, b.quarantine into v_row from blob b where b.digest = p_digest for share;
    if not found or v_row.deleting <> 0 or v_row.quarantine is not null or v_row.touched_at < p_touch_before then
      insert into blob (digest, size, created_at, touched_at) values (p_digest, p_size, p_now, p_now)
        on conflict (digest) do update set touched_at = p_now, deleting = 0, quarantine = null, quarantined_at = null;
    end if;
  end if;
  if p_pin is not null then
    delete from blob_pin where digest = p_digest and token = p_pin;
  end if;

  -- Pushed again: its grace period starts again. Created by this statement: its references are new too.
  insert into manifest as m (repository_id, digest, media_type, artifact_type, subject_digest, config_digest, size, annotations, created_at, touched_at)
    values (p_repository_id, p_digest, p_media_type, p_artifact_type, p_subject_digest, p_config_digest, p_size, p_annotations, p_now, p_now)
    on conflict (repository_id, digest) do update set touched_at = p_now
    returning m.created_at into v_created_at;
  v_new := v_created_at = p_now;
  if v_new then
    insert into manifest_reference (repository_id, parent_digest, child_digest, kind)
      select p_repository_id, p_digest, d, k from unnest(p_ref_digests, p_ref_kinds) as u(d, k)
      on conflict (repository_id, parent_digest, child_digest) do nothing;
  end if;
  insert into event_outbox (type, project, repository, payload, created_at)
    select t, pr, r, case when v_new then pc else pe end, p_now
    from unnest(p_event_types, p_event_projects, p_event_repositories, p_payloads_created, p_payloads_existing) with ordinality as u(t, pr, r, pc, pe, i)
    order by i;

  -- Rows every push to the project or repository shares, last and in this order: the usage
  -- row, the digests' project_blob rows (in digest order), the repository row.
  if v_new then
    insert into project_usage as pu (project, bytes, artifacts) values (p_project, 0, 0)
      on conflict (project) do update set bytes = pu.bytes;
    -- A row that comes back with refs = 1 is new to the project: its size is added.
    with counted as (
      insert into project_blob as x (project, digest, refs, size)
      select p_project, d.digest, 1, coalesce(b.size, 0) from unnest(p_counted) as d(digest) left join blob b on b.digest = d.digest
      order by d.digest
      on conflict (project, digest) do update set refs = x.refs + 1
      returning x.refs, x.size),
    added as (select coalesce(sum(c.size) filter (where c.refs = 1), 0) as bytes from counted c),
    usage as (
      insert into project_usage as pu (project, bytes, artifacts) select p_project, added.bytes, 1 from added
      on conflict (project) do update set bytes = pu.bytes + excluded.bytes, artifacts = pu.artifacts + excluded.artifacts
      returning pu.bytes, pu.artifacts)
    select usage.bytes, usage.artifacts, added.bytes into v_bytes, v_artifacts, v_added from usage, added;
  end if;
  if p_tag is not null then
    perform berth_point_tag(p_repository_id, p_tag, p_digest, p_now, p_tag_must_not_move);
  end if;
  return query select v_new, '{}'::text[], '{}'::text[], v_bytes, v_artifacts, v_added;
end
$$;

create or replace function berth_push_held(
  p_repository_id bigint, p_digest text, p_now bigint, p_touch_before bigint, p_tag text, p_tag_must_not_move boolean,
  p_event_types text[], p_event_projects text[], p_event_repositories text[], p_payloads text[])
returns boolean
language plpgsql as $$
declare
  v_row record;
begin
  -- The content's row held against the collector, then the manifest's, as berth_put_manifest takes them.
  select b.touched_at, b.deleting, b.quarantine into v_row from blob b where b.digest = p_digest for share;
  if not found or v_row.deleting <> 0 or v_row.quarantine is not null then
    return false;
  end if;
  update manifest set touched_at = p_now where repository_id = p_repository_id and digest = p_digest;
  if not found then
    return false;
  end if;
  if v_row.touched_at < p_touch_before then
    update blob set touched_at = p_now where digest = p_digest;
  end if;
  insert into event_outbox (type, project, repository, payload, created_at)
    select t, pr, r, pl, p_now
    from unnest(p_event_types, p_event_projects, p_event_repositories, p_payloads) with ordinality as u(t, pr, r, pl, i)
    order by i;
  if p_tag is not null then
    perform berth_point_tag(p_repository_id, p_tag, p_digest, p_now, p_tag_must_not_move);
  end if;
  return true;
end
$$;

create or replace function berth_delete_manifest(
  p_repository_id bigint, p_digest text, p_now bigint,
  p_event_types text[], p_event_projects text[], p_event_repositories text[], p_payloads text[])
returns boolean
language plpgsql as $$
declare
  v_name text;
  v_project text;
  v_deleted bigint;
begin
  -- The manifest row, locked with its repository's name (so the project is known); then the
  -- usage row, the digests' project_blob rows and the repository row, as pushes take them.
  select r.name into v_name from manifest m join repository r on r.id = m.repository_id
    where m.repository_id = p_repository_id and m.digest = p_digest for update of m;
  if not found then
    return false;
  end if;
  v_project := split_part(v_name, '/', 1);
  insert into event_outbox (type, project, repository, payload, created_at)
    select t, pr, r, pl, p_now
    from unnest(p_event_types, p_event_projects, p_event_repositories, p_payloads) with ordinality as u(t, pr, r, pl, i)
    order by i;
  insert into project_usage as pu (project, bytes, artifacts) values (v_project, 0, 0)
    on conflict (project) do update set bytes = pu.bytes;
  -- Counted out and deleted in one statement, whose parts all see the rows as they were before it.
  with counted as (
      select x.digest, count(*) as n from (
        select m.digest from manifest m where m.repository_id = p_repository_id and m.digest = p_digest
        union all select mr.child_digest from manifest_reference mr where mr.repository_id = p_repository_id and mr.parent_digest = p_digest
      ) x group by x.digest),
    gone as (delete from project_blob pb using counted c where pb.project = v_project and pb.digest = c.digest and pb.refs <= c.n returning pb.size),
    kept as (update project_blob pb set refs = pb.refs - c.n from counted c where pb.project = v_project and pb.digest = c.digest and pb.refs > c.n),
    usage as (
      update project_usage set bytes = bytes - (select coalesce(sum(g.size), 0) from gone g), artifacts = artifacts - (select count(*) from counted c where c.digest = p_digest)
      where project = v_project),
    locked as (select id from repository where id = p_repository_id for no key update),
    untagged as (delete from tag where repository_id = (select id from locked) and manifest_digest = p_digest returning 1),
    bumped as (update repository set tag_version = tag_version + 1 where id = p_repository_id and exists (select 1 from untagged)),
    unreferenced as (delete from manifest_reference where repository_id = p_repository_id and parent_digest = p_digest),
    deleted as (delete from manifest where repository_id = p_repository_id and digest = p_digest returning 1)
  select count(*) into v_deleted from deleted;
  if v_deleted = 0 then
    raise exception 'manifest % was not deleted although its row was locked', p_digest;
  end if;
  return true;
end
$$;

create or replace function berth_mount_blob(p_repository_id bigint, p_digest text, p_now bigint, p_touch_before bigint)
returns table (o_size bigint)
language plpgsql as $$
declare
  v_row record;
begin
  -- Held (shared) so the collector cannot mark it until the link is committed; its grace period
  -- restarts only when due, so mounts of one blob into many repositories do not queue on its row.
  select b.size, b.touched_at into v_row from blob b where b.digest = p_digest and b.deleting = 0 and b.quarantine is null for share;
  if not found then
    return;
  end if;
  if v_row.touched_at < p_touch_before then
    update blob set touched_at = p_now where digest = p_digest;
  end if;
  insert into repository_blob (repository_id, digest, created_at) values (p_repository_id, p_digest, p_now)
    on conflict (repository_id, digest) do update set created_at = excluded.created_at;
  return query select v_row.size::bigint;
end
$$;
`);

/**
 * A push's check before it writes and, when it will write, its pin, in one round trip
 * (migration 0027): what pushState reads, and berth_pin_blob's pin when the repository does not
 * hold the manifest and no reference is missing (the push then stores the content; otherwise it
 * writes nothing, so nothing is pinned). A new push goes from three round trips to two.
 */
export const pushStateFunctionV2 = sql.raw(String.raw`
create or replace function berth_push_state(
  p_repository_id bigint, p_digest text, p_tag text, p_blobs text[], p_manifests text[],
  p_pin text, p_until bigint, p_now bigint)
returns table (o_held boolean, o_tagged text, o_missing_blobs text[], o_missing_manifests text[], o_pinned boolean, o_quarantined boolean, o_removing_since bigint)
language plpgsql as $$
declare
  v_held boolean;
  v_tagged text;
  v_missing_blobs text[];
  v_missing_manifests text[];
  v_pin record;
begin
  v_held := exists (select 1 from manifest m where m.repository_id = p_repository_id and m.digest = p_digest);
  if p_tag is not null then
    select t.manifest_digest into v_tagged from tag t where t.repository_id = p_repository_id and t.name = p_tag;
  end if;
  -- Each reference that is not linked into the repository and usable, in the order given.
  v_missing_blobs := array(select u.d from unnest(p_blobs) with ordinality u(d, i) where not exists (
      select 1 from repository_blob rb join blob b on b.digest = rb.digest
      where rb.repository_id = p_repository_id and rb.digest = u.d and b.deleting = 0 and b.quarantine is null) order by u.i);
  v_missing_manifests := array(select u.d from unnest(p_manifests) with ordinality u(d, i) where not exists (
      select 1 from manifest m where m.repository_id = p_repository_id and m.digest = u.d) order by u.i);
  if v_held or p_pin is null or cardinality(v_missing_blobs) > 0 or cardinality(v_missing_manifests) > 0 then
    return query select v_held, v_tagged, v_missing_blobs, v_missing_manifests, false, false, null::bigint;
    return;
  end if;
  select * into v_pin from berth_pin_blob(p_digest, p_pin, p_until, p_now);
  return query select v_held, v_tagged, v_missing_blobs, v_missing_manifests, true, v_pin.o_quarantined, v_pin.o_removing_since;
end
$$;
`);

/** What berth_push_state found, and the pin it took when the push will write. */
export interface PushStateOutcome {
  held: boolean;
  tagged: Digest | undefined;
  missingBlobs: Digest[];
  missingManifests: Digest[];
  pinned?: PinnedState;
}

export async function pushStateOnPostgres(
  db: Kysely<Schema>,
  check: { repositoryId: number; digest: Digest; tag: string | undefined; blobs: Digest[]; manifests: Digest[]; pin?: { token: string; until: number }; now: number },
): Promise<PushStateOutcome> {
  const { rows } = await sql<{
    o_held: boolean;
    o_tagged: string | null;
    o_missing_blobs: string[];
    o_missing_manifests: string[];
    o_pinned: boolean;
    o_quarantined: boolean;
    o_removing_since: string | null;
  }>`select * from berth_push_state(${check.repositoryId}, ${check.digest}, ${check.tag ?? null}, ${check.blobs}::text[], ${check.manifests}::text[], ${check.pin?.token ?? null}, ${check.pin?.until ?? null}, ${check.now})`.execute(db);
  const row = rows[0]!;
  const outcome: PushStateOutcome = {
    held: row.o_held,
    tagged: (row.o_tagged ?? undefined) as Digest | undefined,
    missingBlobs: row.o_missing_blobs as Digest[],
    missingManifests: row.o_missing_manifests as Digest[],
  };
  if (row.o_pinned) outcome.pinned = row.o_removing_since === null ? { quarantined: row.o_quarantined } : { quarantined: false, removingSince: Number(row.o_removing_since) };
  return outcome;
}

/** The SQLSTATE berth_put_manifest and berth_push_held raise when a tag that must not move points elsewhere (its DETAIL names the digest). */
export const tagMovedState = 'BT001';

/** A blob's state once berth_pin_blob pinned it. */
export interface PinnedState {
  quarantined: boolean;
  /** Set while the collector is removing it (deleting = 2): since when. */
  removingSince?: number;
}

export async function pinBlobOnPostgres(db: Kysely<Schema>, digest: Digest, token: string, until: number, now: number): Promise<PinnedState> {
  const { rows } = await sql<{ o_quarantined: boolean; o_removing_since: string | null }>`select * from berth_pin_blob(${digest}, ${token}, ${until}, ${now})`.execute(db);
  const row = rows[0]!;
  return row.o_removing_since === null ? { quarantined: row.o_quarantined } : { quarantined: false, removingSince: Number(row.o_removing_since) };
}

/** Events as the functions take them: one array per column. */
function eventColumns(events: OutboxEvent[]) {
  return {
    types: events.map((e) => e.type),
    projects: events.map((e) => e.project ?? null),
    repositories: events.map((e) => e.repository ?? null),
    payloads: events.map((e) => JSON.stringify(e.data)),
  };
}

/** What berth_put_manifest did. */
export interface PutOutcome {
  created: boolean;
  missingBlobs: Digest[];
  missingManifests: Digest[];
  /** The project's usage after the push and the bytes it added, when it created the manifest. */
  usage?: { bytes: number; artifacts: number; added: number };
}

/** A manifest's own columns, as a push writes them on either engine (annotations as JSON text). */
export interface ManifestColumns {
  repositoryId: number;
  digest: Digest;
  mediaType: string;
  artifactType: string | null;
  subjectDigest: string | null;
  configDigest: string | null;
  size: number;
  annotations: string | null;
}

export async function putManifestOnPostgres(
  db: Kysely<Schema> | Transaction<Schema>,
  push: ManifestColumns & {
    project: string;
    /** Distinct and sorted, as every change locks rows in digest order. */
    blobs: string[];
    manifests: string[];
    references: { digest: string; kind: string }[];
    /** The digests a new manifest adds to its project's usage (itself and its references), distinct and sorted. */
    counted: string[];
    pin: string | null;
    now: number;
    touchBefore: number;
    tag: string | null;
    tagMustNotMove: boolean;
    /** The events as they are when the push created the manifest, and when the repository held it (they differ in payload only). */
    events: { created: OutboxEvent[]; existing: OutboxEvent[] };
  },
): Promise<PutOutcome> {
  const e = eventColumns(push.events.created);
  const existing = push.events.existing.map((ev) => JSON.stringify(ev.data));
  const { rows } = await sql<{
    o_created: boolean;
    o_missing_blobs: string[];
    o_missing_manifests: string[];
    o_usage_bytes: string | null;
    o_usage_artifacts: string | null;
    o_added_bytes: string | null;
  }>`select * from berth_put_manifest(${push.repositoryId}, ${push.project}, ${push.digest}, ${push.mediaType}, ${push.artifactType},
    ${push.subjectDigest}, ${push.configDigest}, ${push.size}, ${push.annotations},
    ${push.blobs}::text[], ${push.manifests}::text[], ${push.references.map((r) => r.digest)}::text[], ${push.references.map((r) => r.kind)}::text[], ${push.counted}::text[],
    ${push.pin}, ${push.now}, ${push.touchBefore}, ${push.tag}, ${push.tagMustNotMove},
    ${e.types}::text[], ${e.projects}::text[], ${e.repositories}::text[], ${e.payloads}::text[], ${existing}::text[])`.execute(db);
  const row = rows[0]!;
  return {
    created: row.o_created,
    missingBlobs: row.o_missing_blobs as Digest[],
    missingManifests: row.o_missing_manifests as Digest[],
    usage:
      row.o_usage_bytes === null ? undefined : { bytes: Number(row.o_usage_bytes), artifacts: Number(row.o_usage_artifacts), added: Number(row.o_added_bytes) },
  };
}

/** berth_delete_manifest: false when the repository does not hold the manifest. */
export async function deleteManifestOnPostgres(db: Kysely<Schema>, deletion: { repositoryId: number; digest: Digest; now: number; events: OutboxEvent[] }): Promise<boolean> {
  const e = eventColumns(deletion.events);
  const { rows } = await sql<{ deleted: boolean }>`select berth_delete_manifest(${deletion.repositoryId}, ${deletion.digest}, ${deletion.now},
    ${e.types}::text[], ${e.projects}::text[], ${e.repositories}::text[], ${e.payloads}::text[]) as deleted`.execute(db);
  return rows[0]!.deleted;
}

/** berth_mount_blob: the blob's size once linked, undefined when it is not there to mount (missing, being deleted, quarantined). */
export async function mountBlobOnPostgres(db: Kysely<Schema>, mount: { repositoryId: number; digest: Digest; now: number; touchBefore: number }): Promise<number | undefined> {
  const { rows } = await sql<{ o_size: string }>`select * from berth_mount_blob(${mount.repositoryId}, ${mount.digest}, ${mount.now}, ${mount.touchBefore})`.execute(db);
  return rows[0] === undefined ? undefined : Number(rows[0].o_size);
}

/** berth_push_held: false when the stored copy is quarantined, being deleted, or the repository no longer holds the manifest. */
export async function pushHeldOnPostgres(
  db: Kysely<Schema>,
  push: { repositoryId: number; digest: Digest; now: number; touchBefore: number; tag: string | null; tagMustNotMove: boolean; events: OutboxEvent[] },
): Promise<boolean> {
  const e = eventColumns(push.events);
  const { rows } = await sql<{ pushed: boolean }>`select berth_push_held(${push.repositoryId}, ${push.digest}, ${push.now}, ${push.touchBefore}, ${push.tag}, ${push.tagMustNotMove},
    ${e.types}::text[], ${e.projects}::text[], ${e.repositories}::text[], ${e.payloads}::text[]) as pushed`.execute(db);
  return rows[0]!.pushed;
}
