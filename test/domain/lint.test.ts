import { describe, expect, it } from 'vitest';
import {
  buildArguments,
  emptyFacts,
  lintImage,
  lintRules,
  SecretMarkerProbe,
  secretVariable,
  unknownRuleIds,
  type FileFact,
  type ImageFacts,
  type LintRuleId,
} from '../../src/domain/lint/index.js';
import type { Package } from '../../src/domain/packages/package.js';

/** An image that breaks no rule: non-root, healthchecked, annotated, versioned, small, clean. */
function clean(): ImageFacts {
  return {
    ...emptyFacts(),
    user: '10001:10001',
    healthcheck: { test: ['CMD', 'wget', '-q', '--spider', 'http://localhost:8080/healthz'] },
    env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'GPG_KEY=A035C8C19219BA821ECEA86B64E628F8D684696D', 'DB_PASSWORD_FILE=/run/secrets/db'],
    annotations: { 'org.opencontainers.image.source': 'https://example.com/app', 'org.opencontainers.image.revision': 'abc123', 'org.opencontainers.image.created': '2024-05-01T00:00:00Z' },
    labels: { 'org.opencontainers.image.licenses': 'Apache-2.0' },
    history: [{ createdBy: '/bin/sh -c #(nop) ADD file:abc in / ', emptyLayer: false }, { createdBy: 'RUN |1 VERSION=1.2 /bin/sh -c make', emptyLayer: false }],
    layerCount: 2,
    tags: ['1.2.0', 'latest'],
    os: { id: 'debian', versionId: '12', prettyName: 'Debian GNU/Linux 12 (bookworm)', codename: 'bookworm' },
    packages: [deb('bash', '5.2.15-2+b2'), deb('libc6', '2.36-9')],
    files: [
      file('etc/ssl/certs/ca-certificates.pem', { markers: [] }),
      file('app/.env.example'),
      file('usr/lib/python3.11/test/keycert.pem', { markers: ['private-key'] }),
      file('tmp', { type: 'directory', mode: 0o41777 }),
      file('usr/bin/passwd', { mode: 0o100755 }),
    ],
    caches: [{ kind: 'apt-lists', layer: 0, dir: 'var/lib/apt/lists', files: 0, bytes: 0 }],
    docFiles: 3,
  };
}

function file(path: string, extra: Partial<FileFact> = {}): FileFact {
  return { path, layer: 1, type: 'file', size: 100, mode: 0o100644, uid: 0, present: true, ...extra };
}

function deb(name: string, version: string): Package {
  return { name, version, type: 'deb', purl: `pkg:deb/debian/${name}@${version}`, foundIn: '/var/lib/dpkg/status' };
}

/** The findings of one rule, as [message, path, layer, variable]. */
function found(facts: ImageFacts, rule: LintRuleId): Array<[string, string | undefined, number | undefined, string | undefined]> {
  return lintImage(facts)
    .findings.filter((f) => f.rule === rule)
    .map((f) => [f.message, f.path, f.layer, f.variable]);
}

describe('lint rule table', () => {
  it('keeps its ids, severities and titles', () => {
    expect(lintRules.map((r) => [r.id, r.severity, r.title])).toEqual([
      ['BERTH-L001-root-user', 'warning', 'Runs as root'],
      ['BERTH-L002-no-healthcheck', 'info', 'No HEALTHCHECK'],
      ['BERTH-L003-secret-file', 'error', 'Secret-looking file in a layer'],
      ['BERTH-L004-secret-env', 'warning', 'Secret-looking environment variable or build argument'],
      ['BERTH-L005-package-cache', 'warning', 'Package-manager cache left in a layer'],
      ['BERTH-L006-build-toolchain', 'warning', 'Build toolchain in the final image'],
      ['BERTH-L007-large-base', 'info', 'Large base image with a slimmer variant'],
      ['BERTH-L008-latest-only-tag', 'warning', '`latest` is the only tag'],
      ['BERTH-L009-too-many-layers', 'warning', 'Too many layers'],
      ['BERTH-L010-missing-oci-annotations', 'info', 'Missing OCI annotations'],
      ['BERTH-L011-world-writable', 'warning', 'World-writable file'],
      ['BERTH-L012-setuid-binary', 'warning', 'Setuid or setgid binary'],
    ]);
  });

  it('keeps its explanations and fixes', () => {
    expect(Object.fromEntries(lintRules.map((r) => [r.id, { explanation: r.explanation, fix: r.fix }]))).toMatchInlineSnapshot(`
      {
        "BERTH-L001-root-user": {
          "explanation": "The image sets no USER, or sets root (0): its process runs as uid 0, so an escape from the application is an escape as root, and Kubernetes runAsNonRoot refuses it.",
          "fix": "Create an unprivileged user and end the Dockerfile with a numeric USER, e.g. \`USER 10001:10001\`.",
        },
        "BERTH-L002-no-healthcheck": {
          "explanation": "The image declares no HEALTHCHECK (or disables it with NONE): Docker and Compose cannot tell a hung container from a healthy one.",
          "fix": "Add \`HEALTHCHECK CMD <a cheap probe>\` (for example an HTTP GET of a health endpoint), or rely on an orchestrator probe and disable this rule for the project.",
        },
        "BERTH-L003-secret-file": {
          "explanation": "A layer holds a private key, a .env file or a credentials file (cloud, Docker, npm, git, pip, netrc, kubeconfig). Anyone who can pull the image can read it, even when a later layer deletes it: the bytes stay in the lower layer.",
          "fix": "Rotate the credential, then keep it out of the build context (.dockerignore) and pass build-time secrets with \`RUN --mount=type=secret\` instead of COPY.",
        },
        "BERTH-L004-secret-env": {
          "explanation": "The image configuration sets an environment variable, or its history records a build argument, whose name says it holds a secret (token, password, secret key): its value is readable by anyone who can pull the image.",
          "fix": "Rotate the credential; pass secrets at run time (orchestrator secrets, \`*_FILE\` variables naming a mounted file) and at build time with \`RUN --mount=type=secret\`, never ENV or ARG.",
        },
        "BERTH-L005-package-cache": {
          "explanation": "A layer keeps package indexes or downloads (apt lists and archives, apk cache, dnf/yum cache, pip, npm or yarn caches) that the running image never uses: they only add size and pull time.",
          "fix": "Clean up in the same RUN that installs (\`rm -rf /var/lib/apt/lists/*\`, \`apk add --no-cache\`, \`pip install --no-cache-dir\`, \`npm ci && npm cache clean --force\`), or use a cache mount (\`RUN --mount=type=cache\`).",
        },
        "BERTH-L006-build-toolchain": {
          "explanation": "The image ships compilers, build tools or development packages (-dev, -devel headers): they are not needed to run the application, enlarge the image and give an attacker tools.",
          "fix": "Use a multi-stage build: compile in a builder stage and \`COPY --from=builder\` only the artifacts into a runtime stage without the toolchain.",
        },
        "BERTH-L007-large-base": {
          "explanation": "The image is built on the full variant of a base that also exists as slim, alpine, minimal or distroless, hundreds of megabytes and packages smaller (and with fewer vulnerabilities to patch).",
          "fix": "Switch FROM to the slim variant named in the finding, installing only the packages the application needs, or use it as the runtime stage of a multi-stage build.",
        },
        "BERTH-L008-latest-only-tag": {
          "explanation": "The artifact is tagged only \`latest\`: deployments cannot pin it, and the next push silently replaces what \`latest\` means.",
          "fix": "Tag every push with an immutable version (semantic version or commit), and keep \`latest\` as an extra tag if at all.",
        },
        "BERTH-L009-too-many-layers": {
          "explanation": "The image has more than 100 layers: each costs a request and an extraction on pull, and overlay filesystems refuse to stack more than about 128.",
          "fix": "Merge consecutive RUN instructions, copy files in fewer COPY steps, or squash the final stage of a multi-stage build.",
        },
        "BERTH-L010-missing-oci-annotations": {
          "explanation": "The image lacks some of the OCI annotations org.opencontainers.image.source, .revision, .licenses and .created (as manifest annotations or config labels): tools cannot link it to its source, commit, licence or build time.",
          "fix": "Set them at build time, e.g. \`docker buildx build --annotation org.opencontainers.image.source=… --label org.opencontainers.image.revision=$(git rev-parse HEAD)\`, or LABEL in the Dockerfile.",
        },
        "BERTH-L011-world-writable": {
          "explanation": "A file, or a directory without the sticky bit, in the image filesystem is writable by every user: any process in the container can replace what another runs or reads.",
          "fix": "Remove the other-write bit (\`chmod o-w\`), and give writable directories to the application user (\`chown\`) or the sticky bit (\`chmod 1777\`, as /tmp).",
        },
        "BERTH-L012-setuid-binary": {
          "explanation": "A file in the image filesystem has the setuid or setgid bit: run by an unprivileged user it runs with its owner’s (often root’s) rights, a common step to privilege escalation.",
          "fix": "Strip the bits in the last stage: \`RUN find / -xdev -perm /6000 -type f -exec chmod a-s {} +\`, or run the container with \`--security-opt no-new-privileges\`.",
        },
      }
    `);
  });
});

describe('lint rules, each positive and negative', () => {
  it('finds nothing in a clean image', () => {
    expect(lintImage(clean())).toEqual({ findings: [], omitted: {} });
  });

  it('BERTH-L001-root-user: no USER, root, 0 and 0:0 run as root; a numeric or named user does not', () => {
    for (const user of [undefined, '', 'root', '0', '0:0', 'root:root']) {
      const facts = { ...clean(), user };
      expect(found(facts, 'BERTH-L001-root-user')).toEqual([[user ? `the image runs as root (USER ${user})` : 'the image sets no USER, so it runs as root', undefined, undefined, undefined]]);
    }
    for (const user of ['1000', 'app', 'nobody:nogroup', '65532:65532']) expect(found({ ...clean(), user }, 'BERTH-L001-root-user')).toEqual([]);
  });

  it('BERTH-L002-no-healthcheck: missing or NONE; a CMD healthcheck passes', () => {
    expect(found({ ...clean(), healthcheck: undefined }, 'BERTH-L002-no-healthcheck')).toEqual([['the image declares no HEALTHCHECK', undefined, undefined, undefined]]);
    expect(found({ ...clean(), healthcheck: { test: ['NONE'] } }, 'BERTH-L002-no-healthcheck')).toEqual([['the image disables its HEALTHCHECK (NONE)', undefined, undefined, undefined]]);
    expect(found({ ...clean(), healthcheck: { test: ['CMD-SHELL', 'curl -f http://localhost/ || exit 1'] } }, 'BERTH-L002-no-healthcheck')).toEqual([]);
  });

  it('BERTH-L003-secret-file: keys, .env and credentials files by path (content-checked where the name is not enough), even deleted later; never their content', () => {
    const facts = {
      ...clean(),
      files: [
        ...clean().files,
        file('root/.ssh/id_rsa', { layer: 2 }),
        file('srv/tls/server.key', { layer: 3, markers: ['private-key'] }),
        file('srv/tls/server.pem', { layer: 3, markers: [] }),
        file('app/.env', { layer: 4, present: false }),
        file('app/.env.production', { layer: 4 }),
        file('root/.aws/credentials', { layer: 4 }),
        file('root/.docker/config.json', { layer: 4, markers: ['docker-auth'] }),
        file('home/ci/.docker/config.json', { layer: 4, markers: [] }),
        file('app/.npmrc', { layer: 4, markers: ['npm-token'] }),
        file('usr/local/etc/.npmrc', { layer: 4 }),
        file('root/.git-credentials', { layer: 4 }),
        file('root/.kube/config', { layer: 4, markers: ['kube-credentials'] }),
        file('app/node_modules/x/tests/id_rsa', { layer: 4 }),
        file('root/.ssh/id_rsa.pub', { layer: 2 }),
      ],
    };
    expect(found(facts, 'BERTH-L003-secret-file')).toEqual([
      ['/root/.ssh/id_rsa (private key) in layer 2', '/root/.ssh/id_rsa', 2, undefined],
      ['/srv/tls/server.key (private key) in layer 3', '/srv/tls/server.key', 3, undefined],
      ['/app/.env (.env file) in layer 4 (deleted by a later layer, still in its bytes)', '/app/.env', 4, undefined],
      ['/app/.env.production (.env file) in layer 4', '/app/.env.production', 4, undefined],
      ['/root/.aws/credentials (AWS credentials) in layer 4', '/root/.aws/credentials', 4, undefined],
      ['/root/.docker/config.json (Docker registry credentials) in layer 4', '/root/.docker/config.json', 4, undefined],
      ['/app/.npmrc (npm token) in layer 4', '/app/.npmrc', 4, undefined],
      ['/root/.git-credentials (git credentials) in layer 4', '/root/.git-credentials', 4, undefined],
      ['/root/.kube/config (Kubernetes credentials) in layer 4', '/root/.kube/config', 4, undefined],
    ]);
    expect(found(clean(), 'BERTH-L003-secret-file')).toEqual([]);
  });

  it('BERTH-L004-secret-env: secret-named variables with a value and build arguments in history, by name only', () => {
    const facts = {
      ...clean(),
      env: [...clean().env, 'GITHUB_TOKEN=ghp_abcdef', 'AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI', 'POSTGRES_PASSWORD=hunter2', 'CLIENT_SECRET=s3cr3t', 'STRIPE_API_KEY=sk_live_x', 'EMPTY_TOKEN='],
      history: [...clean().history, { createdBy: 'RUN |2 NPM_TOKEN=npm_abc VERSION=1 /bin/sh -c npm ci', emptyLayer: false }],
    };
    const findings = found(facts, 'BERTH-L004-secret-env');
    expect(findings).toEqual([
      ['environment variable GITHUB_TOKEN looks like a secret (its value is in the image configuration)', undefined, undefined, 'GITHUB_TOKEN'],
      ['environment variable AWS_SECRET_ACCESS_KEY looks like a secret (its value is in the image configuration)', undefined, undefined, 'AWS_SECRET_ACCESS_KEY'],
      ['environment variable POSTGRES_PASSWORD looks like a secret (its value is in the image configuration)', undefined, undefined, 'POSTGRES_PASSWORD'],
      ['environment variable CLIENT_SECRET looks like a secret (its value is in the image configuration)', undefined, undefined, 'CLIENT_SECRET'],
      ['environment variable STRIPE_API_KEY looks like a secret (its value is in the image configuration)', undefined, undefined, 'STRIPE_API_KEY'],
      ['build argument NPM_TOKEN is recorded with its value in history step 2', undefined, undefined, 'NPM_TOKEN'],
    ]);
    // No value appears anywhere in a finding.
    const text = JSON.stringify(lintImage(facts));
    for (const value of ['ghp_abcdef', 'wJalrXUtnFEMI', 'hunter2', 's3cr3t', 'sk_live_x', 'npm_abc']) expect(text).not.toContain(value);
    expect(found(clean(), 'BERTH-L004-secret-env')).toEqual([]);
  });

  it('BERTH-L005-package-cache: per cache and layer with counts; an emptied cache passes', () => {
    const facts = {
      ...clean(),
      caches: [
        { kind: 'apt-lists' as const, layer: 1, dir: 'var/lib/apt/lists', files: 12, bytes: 45_000_000 },
        { kind: 'pip-cache' as const, layer: 3, dir: 'root/.cache/pip', files: 1, bytes: 2048 },
      ],
    };
    expect(found(facts, 'BERTH-L005-package-cache')).toEqual([
      ['apt package lists left in layer 1: 12 files, 45000000 bytes in /var/lib/apt/lists', '/var/lib/apt/lists', 1, undefined],
      ['pip cache left in layer 3: 1 file, 2048 bytes in /root/.cache/pip', '/root/.cache/pip', 3, undefined],
    ]);
    expect(found(clean(), 'BERTH-L005-package-cache')).toEqual([]);
  });

  it('BERTH-L006-build-toolchain: compilers and -dev packages; else compiler files; runtime libraries pass', () => {
    const withPackages = { ...clean(), packages: [...clean().packages, deb('gcc-12', '12.2.0-14'), deb('libssl-dev', '3.0.11-1'), deb('libssl3', '3.0.11-1'), deb('make', '4.3-4.1')] };
    expect(found(withPackages, 'BERTH-L006-build-toolchain')).toEqual([
      ['deb package gcc-12 12.2.0-14 is a build toolchain (listed in /var/lib/dpkg/status)', '/var/lib/dpkg/status', undefined, undefined],
      ['deb package libssl-dev 3.0.11-1 is a build toolchain (listed in /var/lib/dpkg/status)', '/var/lib/dpkg/status', undefined, undefined],
      ['deb package make 4.3-4.1 is a build toolchain (listed in /var/lib/dpkg/status)', '/var/lib/dpkg/status', undefined, undefined],
    ]);
    const withFiles = { ...clean(), files: [...clean().files, file('usr/local/go/bin/go', { layer: 2, mode: 0o100755 }), file('usr/bin/gcc', { layer: 2, present: false })] };
    expect(found(withFiles, 'BERTH-L006-build-toolchain')).toEqual([['/usr/local/go/bin/go is a compiler or build tool (layer 2)', '/usr/local/go/bin/go', 2, undefined]]);
    expect(found(clean(), 'BERTH-L006-build-toolchain')).toEqual([]);
  });

  it('BERTH-L007-large-base: full python, node, Debian and UBI variants by package counts, markers and docs', () => {
    const many = Array.from({ length: 420 }, (_, i) => deb(`pkg${i}`, '1'));
    const python = { ...clean(), packages: many, files: [...clean().files, file('usr/local/bin/python3', { type: 'symlink', linkTarget: 'python3.12' })] };
    expect(found(python, 'BERTH-L007-large-base')).toEqual([
      ['Debian GNU/Linux 12 (bookworm) with 420 packages looks like python:<version> (full, on buildpack-deps); a slimmer variant exists: python:<version>-slim, python:<version>-alpine or gcr.io/distroless/python3', undefined, undefined, undefined],
    ]);
    const node = { ...clean(), packages: many, files: [...clean().files, file('usr/local/bin/node')] };
    expect(found(node, 'BERTH-L007-large-base')[0]![0]).toContain('looks like node:<version> (full, on buildpack-deps); a slimmer variant exists: node:<version>-slim');
    expect(found({ ...clean(), packages: many }, 'BERTH-L007-large-base')[0]![0]).toBe(
      'Debian GNU/Linux 12 (bookworm) with 420 packages looks like buildpack-deps:bookworm or a full Debian with build dependencies; a slimmer variant exists: debian:bookworm-slim (or gcr.io/distroless/base-debian12 for the runtime stage)',
    );
    expect(found({ ...clean(), docFiles: 350 }, 'BERTH-L007-large-base')[0]![0]).toBe('Debian GNU/Linux 12 (bookworm) with 2 packages looks like debian:bookworm; a slimmer variant exists: debian:bookworm-slim');
    const ubi = { ...clean(), os: { id: 'rhel', versionId: '9.3' }, packages: Array.from({ length: 190 }, (_, i) => ({ ...deb(`r${i}`, '1'), type: 'rpm' as const })) };
    expect(found(ubi, 'BERTH-L007-large-base')[0]![0]).toBe('rhel with 190 packages looks like ubi9/ubi (standard); a slimmer variant exists: ubi9/ubi-minimal or ubi9/ubi-micro');
    // A slim python: few packages; an Alpine image with many packages has no slimmer variant of itself.
    expect(found({ ...python, packages: clean().packages }, 'BERTH-L007-large-base')).toEqual([]);
    expect(found({ ...clean(), os: { id: 'alpine', versionId: '3.19.1' }, packages: many.map((p) => ({ ...p, type: 'apk' as const })) }, 'BERTH-L007-large-base')).toEqual([]);
    expect(found(clean(), 'BERTH-L007-large-base')).toEqual([]);
  });

  it('BERTH-L008-latest-only-tag: only latest; a version beside it, or no tag, passes', () => {
    expect(found({ ...clean(), tags: ['latest'] }, 'BERTH-L008-latest-only-tag')).toEqual([['the only tag of this artifact is latest', undefined, undefined, undefined]]);
    expect(found({ ...clean(), tags: [] }, 'BERTH-L008-latest-only-tag')).toEqual([]);
    expect(found(clean(), 'BERTH-L008-latest-only-tag')).toEqual([]);
  });

  it('BERTH-L009-too-many-layers: more than 100', () => {
    expect(found({ ...clean(), layerCount: 130 }, 'BERTH-L009-too-many-layers')).toEqual([['the image has 130 layers (more than 100)', undefined, undefined, undefined]]);
    expect(found({ ...clean(), layerCount: 100 }, 'BERTH-L009-too-many-layers')).toEqual([]);
  });

  it('BERTH-L010-missing-oci-annotations: names the missing ones; labels count as annotations', () => {
    expect(found({ ...clean(), annotations: {}, labels: { 'org.opencontainers.image.source': 'https://x' } }, 'BERTH-L010-missing-oci-annotations')).toEqual([
      ['missing org.opencontainers.image.revision, org.opencontainers.image.licenses, org.opencontainers.image.created (neither a manifest annotation nor a config label)', undefined, undefined, undefined],
    ]);
    expect(found(clean(), 'BERTH-L010-missing-oci-annotations')).toEqual([]);
  });

  it('BERTH-L011-world-writable: files and non-sticky directories still present; /tmp and symlinks pass', () => {
    const facts = {
      ...clean(),
      files: [
        ...clean().files,
        file('app/config.yaml', { mode: 0o100666, layer: 2 }),
        file('var/uploads', { type: 'directory', mode: 0o40777, layer: 2 }),
        file('app/old.yaml', { mode: 0o100666, layer: 2, present: false }),
        file('usr/bin/vi', { type: 'symlink', mode: 0o120777, linkTarget: 'vim' }),
      ],
    };
    expect(found(facts, 'BERTH-L011-world-writable')).toEqual([
      ['/app/config.yaml is a world-writable file (mode 0666, layer 2)', '/app/config.yaml', 2, undefined],
      ['/var/uploads is a world-writable directory (mode 0777, layer 2)', '/var/uploads', 2, undefined],
    ]);
    expect(found(clean(), 'BERTH-L011-world-writable')).toEqual([]);
  });

  it('BERTH-L012-setuid-binary: setuid and setgid files still present', () => {
    const facts = {
      ...clean(),
      files: [...clean().files, file('usr/bin/su', { mode: 0o104755, layer: 0 }), file('usr/bin/wall', { mode: 0o102755, uid: 0, layer: 0 }), file('usr/bin/old', { mode: 0o104755, present: false })],
    };
    expect(found(facts, 'BERTH-L012-setuid-binary')).toEqual([
      ['/usr/bin/su is setuid (mode 4755, owner uid 0, layer 0)', '/usr/bin/su', 0, undefined],
      ['/usr/bin/wall is setgid (mode 2755, owner uid 0, layer 0)', '/usr/bin/wall', 0, undefined],
    ]);
    expect(found(clean(), 'BERTH-L012-setuid-binary')).toEqual([]);
  });
});

describe('lint runs', () => {
  it('leaves disabled rules out and caps findings per rule', () => {
    const facts = { ...clean(), user: undefined, healthcheck: undefined, files: Array.from({ length: 30 }, (_, i) => file(`srv/f${i}`, { mode: 0o100666 })) };
    const all = lintImage(facts);
    expect(all.findings.map((f) => f.rule).filter((r) => r !== 'BERTH-L011-world-writable')).toEqual(['BERTH-L001-root-user', 'BERTH-L002-no-healthcheck']);
    expect(all.findings.filter((f) => f.rule === 'BERTH-L011-world-writable')).toHaveLength(25);
    expect(all.omitted).toEqual({ 'BERTH-L011-world-writable': 5 });
    const root = all.findings[0]!;
    expect(root).toEqual({
      rule: 'BERTH-L001-root-user',
      severity: 'warning',
      title: 'Runs as root',
      message: 'the image sets no USER, so it runs as root',
      fix: 'Create an unprivileged user and end the Dockerfile with a numeric USER, e.g. `USER 10001:10001`.',
    });
    const some = lintImage(facts, ['BERTH-L001-root-user', 'BERTH-L011-world-writable']);
    expect(some).toEqual({ findings: [expect.objectContaining({ rule: 'BERTH-L002-no-healthcheck' })], omitted: {} });
  });

  it('names unknown rule ids', () => {
    expect(unknownRuleIds(['BERTH-L001-root-user', 'BERTH-L999-nope', 'root-user'])).toEqual(['BERTH-L999-nope', 'root-user']);
  });

  it('tells secret names from indirections and build arguments from commands', () => {
    expect(['NPM_TOKEN', 'TOKEN', 'MYSQL_ROOT_PASSWORD', 'DJANGO_SECRET_KEY', 'app_secret', 'OPENAI_API_KEY'].filter(secretVariable)).toHaveLength(6);
    expect(['MYSQL_ROOT_PASSWORD_FILE', 'TOKEN_PATH', 'GPG_KEY', 'PYTHON_SHA256', 'TOKENIZER', 'SECRETARY_NAME'].filter(secretVariable)).toEqual([]);
    expect(buildArguments('|3 A=1 NPM_TOKEN=x B=2 /bin/sh -c echo C=3')).toEqual(['A', 'NPM_TOKEN', 'B']);
    expect(buildArguments('ARG GITHUB_TOKEN=abc')).toEqual(['GITHUB_TOKEN']);
    expect(buildArguments('ARG GITHUB_TOKEN')).toEqual([]);
    expect(buildArguments('/bin/sh -c TOKEN=x make')).toEqual([]);
  });

  it('finds secret markers across chunk boundaries, keeping only their names', () => {
    const probe = new SecretMarkerProbe();
    const pem = Buffer.from('-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n');
    expect(probe.update(pem.subarray(0, 20))).toBe(false);
    probe.update(pem.subarray(20));
    expect(probe.finish()).toEqual(['private-key']);
    const cert = new SecretMarkerProbe();
    cert.update(Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'));
    expect(cert.finish()).toBeUndefined();
  });
});
