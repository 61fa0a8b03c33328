import type { FC } from 'hono/jsx';
import type { ImageTag, UsageView } from '../../registry/usage.js';
import type { BuildPlatform } from '../../store/schema.js';
import { formatBytes } from '../../units.js';
import { buildPath, Layout, When, type Viewer } from './layout.js';

/** A tag of the images page; `platforms`: those of the multi-platform image a build pushed under it. */
export type ImageTagRow = ImageTag & { platforms?: BuildPlatform[] };

/**
 * An owner's images: usage against the quota, then each image with its tags, newest pushed first (a multi-platform
 * image's platforms under its digest).
 */
export const ImagesPage: FC<{ viewer: Viewer; usage: UsageView; images: { image: string; tags: ImageTagRow[] }[]; now: number }> = ({
  viewer,
  usage,
  images,
  now,
}) => (
  <Layout title={`Images of ${usage.owner}`} viewer={viewer}>
    <p class="crumbs">
      <a href="/">Repositories</a>
    </p>
    <h1>Images of {usage.owner}</h1>
    <p id="usage">
      <strong>{formatBytes(usage.bytes)}</strong> in the registry
      {usage.quota === null ? (
        ' (no quota)'
      ) : (
        <>
          {' '}
          of a <strong>{formatBytes(usage.quota)}</strong> quota{' '}
          <meter
            min={0}
            max={usage.quota}
            value={Math.min(usage.bytes, usage.quota)}
            high={usage.quota * 0.8}
            optimum={0}
          >{`${Math.floor((usage.bytes / usage.quota) * 100)} %`}</meter>{' '}
          {`${Math.floor((usage.bytes / usage.quota) * 100)} %`}
        </>
      )}
    </p>
    <p class="muted">
      Each layer counts once however many images and tags share it. Builds fail with <code>quota</code> at 100 %; <code>codehub-build gc --dry-run</code> (on
      the server) says what retention would free.
    </p>
    {images.length === 0 && <p>No images yet: push a repo with a Dockerfile.</p>}
    {images.map(({ image, tags }) => {
      const row = usage.images.find((i) => i.image === image);
      return (
        <section class="card" id={`image-${image}`} aria-labelledby={`h-${image}`}>
          <h2 id={`h-${image}`}>
            {`${usage.owner}/${image}`}{' '}
            <span class="muted">
              · {formatBytes(row?.bytes ?? 0)} · {tags.length} tag{tags.length === 1 ? '' : 's'}
            </span>
          </h2>
          <div class="scroll">
            <table>
              <thead>
                <tr>
                  <th scope="col">Tag</th>
                  <th scope="col">Digest</th>
                  <th scope="col" class="num">
                    Size
                  </th>
                  <th scope="col">Pushed</th>
                  <th scope="col">Build</th>
                  <th scope="col" class="hide-narrow">
                    Pull
                  </th>
                </tr>
              </thead>
              <tbody>
                {tags.map((t) => (
                  <tr>
                    <td class="mono">{t.tag.length > 20 ? <span title={t.tag}>{t.tag.slice(0, 12)}…</span> : t.tag}</td>
                    <td class="mono" title={t.digest}>
                      {t.digest.slice(0, 19)}
                      {t.platforms && (
                        <ul class="refs platforms muted">
                          {t.platforms.map((p) => (
                            <li title={p.digest}>{p.platform}</li>
                          ))}
                        </ul>
                      )}
                    </td>
                    <td class="num">{formatBytes(t.bytes)}</td>
                    <td>
                      <When iso={t.pushedAt} now={now} />
                    </td>
                    <td>{t.buildId === null ? <span class="muted">docker push</span> : <a href={buildPath(t.buildId)}>#{t.buildId}</a>}</td>
                    <td class="hide-narrow">
                      <code>{t.pull}</code>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
      );
    })}
  </Layout>
);
