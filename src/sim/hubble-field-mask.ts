import { create, type DescField, type DescMessage, type Message } from '@bufbuild/protobuf';
import { FlowSchema, type Flow } from '../gen/flow/flow_pb.js';

/** A normalised mask as a tree: field name → sub-mask (null: the whole field). */
export type MaskTree = Map<string, MaskTree | null>;

/** A field mask Hubble would refuse: a path that names no field of Flow. */
export class InvalidFieldMaskError extends Error {
  override readonly name = 'InvalidFieldMaskError';
}

function fieldNamed(desc: DescMessage, name: string): DescField | undefined {
  return desc.fields.find((f) => f.name === name);
}

/**
 * Hubble's field mask on flows: paths are checked against Flow (every part a
 * field, every part but the last a singular message), normalised (sorted,
 * duplicates and paths under another path dropped) and made into a tree.
 * Throws InvalidFieldMaskError naming the bad path. The simulated relay knows
 * the Flow of our protos, a subset of Hubble's: a path to a field we do not
 * model is refused here though Hubble would take it.
 */
export function maskTree(paths: readonly string[]): MaskTree {
  for (const p of paths) {
    let desc: DescMessage | undefined = FlowSchema;
    const parts = p.split('.');
    for (let i = 0; i < parts.length; i++) {
      const f: DescField | undefined = desc === undefined ? undefined : fieldNamed(desc, parts[i]!);
      if (f === undefined) throw new InvalidFieldMaskError(`invalid fieldmask: ${JSON.stringify(p)} names no field of flow.Flow`);
      const last = i === parts.length - 1;
      if (!last && f.fieldKind !== 'message') throw new InvalidFieldMaskError(`invalid fieldmask: ${JSON.stringify(p)} goes through ${parts[i]}, which is not a singular message`);
      desc = f.fieldKind === 'message' ? f.message : undefined;
    }
  }
  const sorted = [...new Set(paths)].sort();
  const kept = sorted.filter((p) => !sorted.some((q) => q !== p && p.startsWith(`${q}.`)));
  const tree: MaskTree = new Map();
  for (const p of kept) {
    let node = tree;
    const parts = p.split('.');
    for (let i = 0; i < parts.length - 1; i++) {
      let next = node.get(parts[i]!);
      if (!next) node.set(parts[i]!, (next = new Map()));
      node = next;
    }
    node.set(parts[parts.length - 1]!, null);
  }
  return tree;
}

type Obj = Record<string, unknown>;

/**
 * A new message with only the masked fields of `src`, as Hubble's
 * `FieldMask.Copy` into a flow prepared by `Alloc`: a leaf is copied when set;
 * a message named on the way to a leaf is always present, empty when `src`
 * has none; a oneof member is copied only when it is the one set.
 */
function copyMasked(desc: DescMessage, src: Obj | undefined, tree: MaskTree): Message {
  const dst = create(desc) as unknown as Obj;
  for (const [name, next] of tree) {
    const f = fieldNamed(desc, name)!;
    if (f.oneof !== undefined) {
      const o = src?.[f.oneof.localName] as { case?: string; value?: unknown } | undefined;
      if (o?.case !== f.localName) continue;
      const value = next === null ? o.value : copyMasked((f as DescField & { message: DescMessage }).message, o.value as Obj, next);
      dst[f.oneof.localName] = { case: f.localName, value };
    } else if (next === null) {
      if (src !== undefined && src[f.localName] !== undefined) dst[f.localName] = src[f.localName];
    } else {
      dst[f.localName] = copyMasked((f as DescField & { message: DescMessage }).message, src?.[f.localName] as Obj | undefined, next);
    }
  }
  return dst as unknown as Message;
}

/** The flow as Hubble sends it under the mask `tree`. */
export function maskFlow(flow: Flow, tree: MaskTree): Flow {
  return copyMasked(FlowSchema, flow as unknown as Obj, tree) as Flow;
}
