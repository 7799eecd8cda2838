import {
  Control,
  CR,
  E_Base,
  E_Base_GAZ,
  E_Modifier,
  Extend,
  Glue_After_Zwj,
  graphemeClass,
  L,
  LF,
  LV,
  LVT,
  Prepend,
  Regional_Indicator,
  SpacingMark,
  T,
  V,
  ZWJ,
} from './grapheme-classes.ts';

/**
 * The cluster being read, as grapheme-splitter 1.0.4's rules look at it (`[start, ...mid]` there),
 * kept as a count and last positions so that each code point costs the same however long the cluster
 * grows: grapheme-splitter rescans the whole cluster at every code point, quadratic in its length.
 * Positions count from its first code point at 0; -1 is none.
 */
interface Cluster {
  /** How many code points follow the first. */
  length: number;
  /** The class of the last code point, and of the one before it (-1 when there is none). */
  previous: number;
  beforePrevious: number;
  /** How many of the code points after the first are Regional_Indicator, from the second on. */
  leadingRegional: number;
  lastExtend: number;
  lastRegional: number;
}

/** Starts `cluster` over at a code point of class `cls`. */
function begin(cluster: Cluster, cls: number): void {
  cluster.length = 0;
  cluster.previous = cls;
  cluster.beforePrevious = -1;
  cluster.leadingRegional = 0;
  cluster.lastExtend = cls === Extend ? 0 : -1;
  cluster.lastRegional = cls === Regional_Indicator ? 0 : -1;
}

function extend(cluster: Cluster, cls: number): void {
  const at = cluster.length + 1;
  if (cls === Extend) cluster.lastExtend = at;
  else if (cls === Regional_Indicator) {
    if (cluster.leadingRegional === cluster.length) cluster.leadingRegional++;
    cluster.lastRegional = at;
  }
  cluster.beforePrevious = cluster.previous;
  cluster.previous = cls;
  cluster.length = at;
}

/**
 * Whether a code point of class `next` stays in `cluster`: grapheme-splitter's `shouldBreak`, rule for
 * rule and in its order, quirks kept (its GB10 looks back over one Extend only; its lookahead breaks
 * before a Regional_Indicator that no pair admits). Every answer of `shouldBreak` but NotBreak is a
 * break. Its other lookahead (a break before an E_Modifier after Extends and, first, anything but an
 * E_Base or Extend) never decides: no later rule would keep such a modifier (GB9b needs a Prepend
 * last, GB10 an E_Base before the last Extend), so no cluster holds one for a later lookahead to see.
 */
function joins(cluster: Cluster, next: number): boolean {
  const { previous } = cluster;
  const end = cluster.length + 1;
  const regional = next === Regional_Indicator ? end : cluster.lastRegional;
  if (
    regional > 0 &&
    regional - 1 <= cluster.leadingRegional &&
    previous !== Prepend &&
    previous !== Regional_Indicator
  ) {
    return false;
  }
  if (previous === CR && next === LF) return true; // GB3
  if (previous === Control || previous === CR || previous === LF) return false; // GB4
  if (next === Control || next === CR || next === LF) return false; // GB5
  if (previous === L && (next === L || next === V || next === LV || next === LVT)) return true; // GB6
  if ((previous === LV || previous === V) && (next === V || next === T)) return true; // GB7
  if ((previous === LVT || previous === T) && next === T) return true; // GB8
  if (next === Extend || next === ZWJ || next === SpacingMark) return true; // GB9, GB9a
  if (previous === Prepend) return true; // GB9b
  if (next === E_Modifier) {
    // GB10: the class before the last Extend, when nothing but that Extend follows it; without one, the last.
    const base =
      cluster.lastExtend === -1 ? previous : cluster.lastExtend === end - 1 ? cluster.beforePrevious : -1;
    if (base === E_Base || base === E_Base_GAZ) return true;
  }
  if (previous === ZWJ && (next === Glue_After_Zwj || next === E_Base_GAZ)) return true; // GB11
  if (cluster.lastRegional > 0) return false; // GB12, GB13: a Regional_Indicator after the first
  return previous === Regional_Indicator && next === Regional_Indicator;
}

/**
 * The grapheme clusters of `text` as grapheme-splitter 1.0.4 splits it (what sms-segments-calculator
 * counts), each as its length in UTF-16 units, in linear time. A lone surrogate is a code point of its
 * own, as there.
 */
export function graphemeLengths(text: string): number[] {
  const lengths: number[] = [];
  // One cluster object, started over at each break: a text of 1600 clusters allocates no more.
  const cluster: Cluster = {
    length: 0,
    previous: 0,
    beforePrevious: 0,
    leadingRegional: 0,
    lastExtend: 0,
    lastRegional: 0,
  };
  let first = 0;
  for (let at = 0; at < text.length; ) {
    const codePoint = text.codePointAt(at)!;
    const cls = graphemeClass(codePoint);
    if (at === 0) begin(cluster, cls);
    else if (joins(cluster, cls)) extend(cluster, cls);
    else {
      lengths.push(at - first);
      first = at;
      begin(cluster, cls);
    }
    at += codePoint > 0xffff ? 2 : 1;
  }
  if (first < text.length) lengths.push(text.length - first);
  return lengths;
}
