import { Link } from 'react-router';
import { api, signatureReasons, type Signature, type SignatureReason, type SignatureStatus } from '../api';
import { ErrorNote, shortDigest, useLoad } from '../components/ui';
import { useI18n } from '../i18n';

const knownReason = (reason: string): reason is SignatureReason => (signatureReasons as readonly string[]).includes(reason);

/**
 * An artifact's signatures (docs/signatures.md): cosign's `.sig` tag and Notation or Sigstore-bundle
 * referrers, each verified against the trusted signers of the project's security policy. `base` is
 * the repository's path, the same in the API and in the console's routes.
 */
export function Signatures({ base, project, digest, canReadPolicies }: { base: string; project: string; digest: string; canReadPolicies: boolean }) {
  const { t } = useI18n();
  const { data, error } = useLoad(() => api<SignatureStatus>('GET', `${base}/artifacts/${digest}/signatures`), [base, digest]);
  return (
    <section aria-labelledby="signatures-title">
      <h2 id="signatures-title">{t('signatures.title')}</h2>
      <ErrorNote message={error} />
      {!data && !error && <p className="loading">{t('common.loading')}</p>}
      {data && (
        <>
          <p className="signature-status">
            <Verdict status={data} base={base} />
          </p>
          {data.signatures.length === 0 && !data.verifiedThrough && <p className="muted">{t('signatures.noneHelp')}</p>}
          {data.verifiedThrough && <p className="muted">{t('signatures.throughHelp')}</p>}
          {data.signatures.length > 0 && <SignatureTable signatures={data.signatures} base={base} />}
        </>
      )}
      <p className="muted small">
        {canReadPolicies ? (
          <>
            {t('signatures.trust')} <Link to={`/projects/${project}?tab=security`}>{t('signatures.trustLink')}</Link>
          </>
        ) : (
          t('signatures.trustReadOnly')
        )}
      </p>
    </section>
  );
}

/** The overall answer, as the prevent-unsigned pull policy would take it. */
function Verdict({ status, base }: { status: SignatureStatus; base: string }) {
  const { t } = useI18n();
  if (status.verified) return <span className="badge signature-verified">{t('signatures.verified')}</span>;
  if (status.verifiedThrough) {
    return (
      <>
        <span className="badge signature-verified">{t('signatures.verifiedThrough')}</span>{' '}
        <Link to={`${base}/artifacts/${status.verifiedThrough}`}>
          <code>{shortDigest(status.verifiedThrough)}</code>
        </Link>
      </>
    );
  }
  if (status.signatures.length === 0) return <span className="badge">{t('signatures.none')}</span>;
  return <span className="badge signature-failed">{t('signatures.notVerified')}</span>;
}

function SignatureTable({ signatures, base }: { signatures: Signature[]; base: string }) {
  const { t, formatTime } = useI18n();
  return (
    <table className="signatures">
      <thead>
        <tr>
          <th scope="col">{t('signatures.format')}</th>
          <th scope="col">{t('signatures.source')}</th>
          <th scope="col">{t('signatures.verifiedColumn')}</th>
          <th scope="col">{t('signatures.reason')}</th>
          <th scope="col">{t('signatures.signer')}</th>
          <th scope="col">{t('signatures.issuer')}</th>
          <th scope="col">{t('signatures.signedAt')}</th>
        </tr>
      </thead>
      <tbody>
        {signatures.map((s) => (
          <tr key={`${s.signatureDigest}\n${s.layerDigest ?? ''}`}>
            <td>{t(`signatures.format.${s.format}`)}</td>
            <td>
              {t(`signatures.source.${s.source}`)}
              <Link className="block small" to={`${base}/artifacts/${s.signatureDigest}`}>
                <code>{shortDigest(s.signatureDigest)}</code>
              </Link>
            </td>
            <td>
              {s.verified ? (
                <span className="verdict-yes" role="img" aria-label={t('signatures.yes')} title={t('signatures.yes')}>
                  ✓
                </span>
              ) : (
                <span className="verdict-no" role="img" aria-label={t('signatures.no')} title={t('signatures.no')}>
                  ✗
                </span>
              )}
            </td>
            <td>
              {s.reason ? (
                <>
                  <span title={s.detail}>{knownReason(s.reason) ? t(`signatures.reason.${s.reason}`) : s.reason}</span>
                  <code className="block muted small">{s.reason}</code>
                </>
              ) : (
                '—'
              )}
            </td>
            <td className="fingerprint">{s.signer ? <code>{s.signer}</code> : '—'}</td>
            <td>{s.issuer ?? '—'}</td>
            <td>{s.signedAt ? formatTime(s.signedAt) : '—'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
