/** How much a lint finding matters: errors leak or break things, warnings weaken the image, infos are advice. */
export type LintSeverity = 'info' | 'warning' | 'error';

/** One best-practice rule (issue 17). The id never changes once published: policies and scripts name rules by it. */
export interface LintRule {
  id: LintRuleId;
  severity: LintSeverity;
  title: string;
  explanation: string;
  fix: string;
}

export const lintRuleIds = [
  'BERTH-L001-root-user',
  'BERTH-L002-no-healthcheck',
  'BERTH-L003-secret-file',
  'BERTH-L004-secret-env',
  'BERTH-L005-package-cache',
  'BERTH-L006-build-toolchain',
  'BERTH-L007-large-base',
  'BERTH-L008-latest-only-tag',
  'BERTH-L009-too-many-layers',
  'BERTH-L010-missing-oci-annotations',
  'BERTH-L011-world-writable',
  'BERTH-L012-setuid-binary',
] as const;

export type LintRuleId = (typeof lintRuleIds)[number];

/** Layers above this many are a finding (overlayfs stacks at most 128 lower directories on many kernels). */
export const maxLayers = 100;

/** The rule table, one row per rule, in id order. Texts are part of the contract (test/domain/lint.test.ts pins them). */
export const lintRules: readonly LintRule[] = [
  {
    id: 'BERTH-L001-root-user',
    severity: 'warning',
    title: 'Runs as root',
    explanation: 'The image sets no USER, or sets root (0): its process runs as uid 0, so an escape from the application is an escape as root, and Kubernetes runAsNonRoot refuses it.',
    fix: 'Create an unprivileged user and end the Dockerfile with a numeric USER, e.g. `USER 10001:10001`.',
  },
  {
    id: 'BERTH-L002-no-healthcheck',
    severity: 'info',
    title: 'No HEALTHCHECK',
    explanation: 'The image declares no HEALTHCHECK (or disables it with NONE): Docker and Compose cannot tell a hung container from a healthy one.',
    fix: 'Add `HEALTHCHECK CMD <a cheap probe>` (for example an HTTP GET of a health endpoint), or rely on an orchestrator probe and disable this rule for the project.',
  },
  {
    id: 'BERTH-L003-secret-file',
    severity: 'error',
    title: 'Secret-looking file in a layer',
    explanation:
      'A layer holds a private key, a .env file or a credentials file (cloud, Docker, npm, git, pip, netrc, kubeconfig). Anyone who can pull the image can read it, even when a later layer deletes it: the bytes stay in the lower layer.',
    fix: 'Rotate the credential, then keep it out of the build context (.dockerignore) and pass build-time secrets with `RUN --mount=type=secret` instead of COPY.',
  },
  {
    id: 'BERTH-L004-secret-env',
    severity: 'warning',
    title: 'Secret-looking environment variable or build argument',
    explanation: 'The image configuration sets an environment variable, or its history records a build argument, whose name says it holds a secret (token, password, secret key): its value is readable by anyone who can pull the image.',
    fix: 'Rotate the credential; pass secrets at run time (orchestrator secrets, `*_FILE` variables naming a mounted file) and at build time with `RUN --mount=type=secret`, never ENV or ARG.',
  },
  {
    id: 'BERTH-L005-package-cache',
    severity: 'warning',
    title: 'Package-manager cache left in a layer',
    explanation: 'A layer keeps package indexes or downloads (apt lists and archives, apk cache, dnf/yum cache, pip, npm or yarn caches) that the running image never uses: they only add size and pull time.',
    fix: 'Clean up in the same RUN that installs (`rm -rf /var/lib/apt/lists/*`, `apk add --no-cache`, `pip install --no-cache-dir`, `npm ci && npm cache clean --force`), or use a cache mount (`RUN --mount=type=cache`).',
  },
  {
    id: 'BERTH-L006-build-toolchain',
    severity: 'warning',
    title: 'Build toolchain in the final image',
    explanation: 'The image ships compilers, build tools or development packages (-dev, -devel headers): they are not needed to run the application, enlarge the image and give an attacker tools.',
    fix: 'Use a multi-stage build: compile in a builder stage and `COPY --from=builder` only the artifacts into a runtime stage without the toolchain.',
  },
  {
    id: 'BERTH-L007-large-base',
    severity: 'info',
    title: 'Large base image with a slimmer variant',
    explanation: 'The image is built on the full variant of a base that also exists as slim, alpine, minimal or distroless, hundreds of megabytes and packages smaller (and with fewer vulnerabilities to patch).',
    fix: 'Switch FROM to the slim variant named in the finding, installing only the packages the application needs, or use it as the runtime stage of a multi-stage build.',
  },
  {
    id: 'BERTH-L008-latest-only-tag',
    severity: 'warning',
    title: '`latest` is the only tag',
    explanation: 'The artifact is tagged only `latest`: deployments cannot pin it, and the next push silently replaces what `latest` means.',
    fix: 'Tag every push with an immutable version (semantic version or commit), and keep `latest` as an extra tag if at all.',
  },
  {
    id: 'BERTH-L009-too-many-layers',
    severity: 'warning',
    title: 'Too many layers',
    explanation: `The image has more than ${maxLayers} layers: each costs a request and an extraction on pull, and overlay filesystems refuse to stack more than about 128.`,
    fix: 'Merge consecutive RUN instructions, copy files in fewer COPY steps, or squash the final stage of a multi-stage build.',
  },
  {
    id: 'BERTH-L010-missing-oci-annotations',
    severity: 'info',
    title: 'Missing OCI annotations',
    explanation:
      'The image lacks some of the OCI annotations org.opencontainers.image.source, .revision, .licenses and .created (as manifest annotations or config labels): tools cannot link it to its source, commit, licence or build time.',
    fix: 'Set them at build time, e.g. `docker buildx build --annotation org.opencontainers.image.source=… --label org.opencontainers.image.revision=$(git rev-parse HEAD)`, or LABEL in the Dockerfile.',
  },
  {
    id: 'BERTH-L011-world-writable',
    severity: 'warning',
    title: 'World-writable file',
    explanation: 'A file, or a directory without the sticky bit, in the image filesystem is writable by every user: any process in the container can replace what another runs or reads.',
    fix: 'Remove the other-write bit (`chmod o-w`), and give writable directories to the application user (`chown`) or the sticky bit (`chmod 1777`, as /tmp).',
  },
  {
    id: 'BERTH-L012-setuid-binary',
    severity: 'warning',
    title: 'Setuid or setgid binary',
    explanation: 'A file in the image filesystem has the setuid or setgid bit: run by an unprivileged user it runs with its owner’s (often root’s) rights, a common step to privilege escalation.',
    fix: 'Strip the bits in the last stage: `RUN find / -xdev -perm /6000 -type f -exec chmod a-s {} +`, or run the container with `--security-opt no-new-privileges`.',
  },
];

const byId = new Map(lintRules.map((rule) => [rule.id, rule]));

export function lintRule(id: LintRuleId): LintRule {
  return byId.get(id)!;
}

export function isLintRuleId(id: string): id is LintRuleId {
  return byId.has(id as LintRuleId);
}
