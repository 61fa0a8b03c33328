/**
 * An image's selected files as its container would see them: each layer's changes (layer-walk.ts) applied over
 * the ones below it, in the manifest's order. Every file keeps the digest of the layer that last wrote it, which
 * is how a package found in it is said to come from that layer.
 */
import type { LayerEntry } from './layer-walk.js';

/** One layer's changes: what walkLayer read from it, with the layer's digest (its `LayerFiles` fits). */
export interface LayerChanges<S> {
  digest: string;
  files: ReadonlyMap<string, LayerEntry<S>>;
  whiteouts: readonly string[];
  opaque: readonly string[];
}

/** A file present in the image: its bytes or what a sink found in it, and the digest of the layer that wrote it. */
export type ImageFile<S> = Exclude<LayerEntry<S>, { kind: 'shadow' }> & { layer: string };

/**
 * Applies `layers`, lowest (the base) first, as overlay filesystems do: a layer's opaque folders and whiteouts
 * remove what the layers below it had there (a whited-out folder takes all below it), then its own files are laid
 * on top. Its own files survive its own whiteouts, as the OCI image spec says a whiteout hides lower layers only.
 * A `shadow` entry removes what was below and adds nothing. Answers the image's selected files by path.
 */
export function applyLayers<S>(layers: readonly LayerChanges<S>[]): Map<string, ImageFile<S>> {
  const image = new Map<string, ImageFile<S>>();
  for (const layer of layers) {
    const gone = new Set([...layer.whiteouts, ...layer.opaque]);
    if (layer.opaque.includes('')) {
      image.clear();
    } else if (gone.size > 0) {
      // One pass over what the image holds, each path's folders looked up in the set: a layer of thousands of
      // whiteouts (an apt-get purge) costs the image's selected files times their depth, not times the whiteouts.
      for (const path of [...image.keys()]) {
        if (isUnder(path, gone)) image.delete(path);
      }
    }
    for (const [path, entry] of layer.files) {
      if (entry.kind === 'shadow') image.delete(path);
      else image.set(path, { ...entry, layer: layer.digest });
    }
  }
  return image;
}

/** Whether `path` or one of its folders is in `gone`. */
function isUnder(path: string, gone: ReadonlySet<string>): boolean {
  for (let end = path.length; end > 0; end = path.lastIndexOf('/', end - 1)) {
    if (gone.has(path.slice(0, end))) return true;
  }
  return false;
}
