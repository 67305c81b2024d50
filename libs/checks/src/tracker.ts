/**
 * The check verdict, pure: keepalived's vrrp_script result counter and the
 * effective priority of an instance from what it tracks. No clocks, no I/O.
 *
 * keepalived (vrrp_scheduler.c, vrrp_script_child_thread; vrrp_track.c,
 * process_script_update_priority / initialise_track_script_state /
 * vrrp_set_effective_priority) keeps one counter per script in
 * [0, rise + fall - 1]; the script is good iff counter >= rise.
 *  - success: below rise - 1 it counts up; otherwise it jumps to the top
 *    (rise + fall - 1), and crossing from rise - 1 is the change to good.
 *  - failure: above rise it counts down; otherwise it drops to 0, and
 *    dropping from rise (or from the initial state) is the change to failing.
 * So `fall` failures in a row make a good script fail, `rise` successes in a
 * row make a failing one good, and one result of the other kind in between
 * starts the count again.
 */

/** 'init': no result yet (keepalived SCRIPT_INIT_STATE_INIT), so the script counts neither way. */
export type TrackStatus = 'init' | 'good' | 'failing';

export interface TrackerConfig {
  /** The script or check name, for reasons ("check_nginx"). */
  name: string;
  rise: number;
  fall: number;
  /** keepalived `init_fail`: start failed until the script succeeds `rise` times. */
  initFail?: boolean;
}

export interface TrackerState {
  readonly name: string;
  readonly rise: number;
  readonly fall: number;
  /** keepalived's `result`, in [0, rise + fall - 1]. */
  readonly counter: number;
  readonly status: TrackStatus;
}

export interface TrackerStep {
  state: TrackerState;
  /** The verdict changed (keepalived calls update_script_priorities exactly then). */
  changed: boolean;
  /** counter >= rise. False while no result came in yet. */
  good: boolean;
  reason: string;
}

export function initialTracker(config: TrackerConfig): TrackerState {
  const { name, rise, fall } = config;
  if (!Number.isInteger(rise) || rise < 1) throw new RangeError(`${name}: rise must be an integer of at least 1, not ${rise}`);
  if (!Number.isInteger(fall) || fall < 1) throw new RangeError(`${name}: fall must be an integer of at least 1, not ${fall}`);
  // keepalived vrrp_init_script: "one success is enough" (rise - 1), or
  // "assume failed by config" (0) with init_fail.
  if (config.initFail) return { name, rise, fall, counter: 0, status: 'failing' };
  return { name, rise, fall, counter: rise - 1, status: 'init' };
}

export function isGood(state: TrackerState): boolean {
  return state.counter >= state.rise;
}

function times(n: number): string {
  return n === 1 ? '1 time' : `${n} times`;
}

/** Feeds one result (`ok`: the script exited 0, the probe answered) to the tracker. */
export function trackerStep(state: TrackerState, ok: boolean): TrackerStep {
  const { name, rise, fall } = state;
  const top = rise + fall - 1;
  const next = (counter: number, status: TrackStatus): TrackerState => ({ name, rise, fall, counter, status });

  if (state.status === 'init') {
    // The first result always decides, whatever rise and fall say.
    if (ok) return { state: next(top, 'good'), changed: true, good: true, reason: `${name} succeeded (first result): now good` };
    return { state: next(0, 'failing'), changed: true, good: false, reason: `${name} failed (first result): now failing` };
  }

  if (ok) {
    if (state.counter < rise - 1) {
      const counter = state.counter + 1;
      return {
        state: next(counter, 'failing'),
        changed: false,
        good: false,
        reason: `${name} succeeded ${counter} of ${rise} times (rise ${rise}): still failing`,
      };
    }
    if (state.counter < rise) {
      return { state: next(top, 'good'), changed: true, good: true, reason: `${name} succeeded ${times(rise)} (rise ${rise}): now good` };
    }
    return { state: next(top, 'good'), changed: false, good: true, reason: `${name} succeeded: still good` };
  }

  if (state.counter > rise) {
    const counter = state.counter - 1;
    const failures = top - counter;
    return {
      state: next(counter, 'good'),
      changed: false,
      good: true,
      reason: `${name} failed ${failures} of ${fall} times (fall ${fall}): still good`,
    };
  }
  if (state.counter === rise) {
    return { state: next(0, 'failing'), changed: true, good: false, reason: `${name} failed ${times(fall)} (fall ${fall}): now failing` };
  }
  return { state: next(0, 'failing'), changed: false, good: false, reason: `${name} failed: still failing` };
}

// ---------------------------------------------------------------------------
// Effective priority

/** A tracked script, check or interface as an instance sees it. */
export interface TrackedObject {
  name: string;
  /** -253..253. 0: failing means FAULT; > 0 added while good; < 0 taken while failing. */
  weight: number;
  /** keepalived `reverse`: the adjustment goes the other way (weight 0: FAULT while good). */
  reverse?: boolean;
  /** For an interface: 'good' is up, 'failing' is down. */
  status: TrackStatus;
}

export interface PriorityVerdict {
  /** 1..254, or 255 for the address owner. */
  priority: number;
  /** Names of weight-0 objects that put the instance in FAULT. */
  fault: string[];
  /** Names of weight-0 objects with no result yet: keepalived holds the instance in INIT until they report. */
  pending: string[];
  /** What each weighted object adds (negative: takes), in input order; zeros left out. */
  adjustments: Array<{ name: string; delta: number }>;
  reason: string;
}

/** The VRRP priority of the address owner: never adjusted (keepalived VRRP_PRIO_OWNER). */
export const OWNER_PRIORITY = 255;

/**
 * keepalived's priority arithmetic. A weight applies in one state only:
 * weight > 0 adds while good, weight < 0 takes while failing; `reverse`
 * multiplies the adjustment by -1 (so weight > 0 reverse takes while good,
 * weight < 0 reverse adds while failing). An object with no result yet adds
 * nothing. The sum is clamped to 1..254; base 255 is never changed.
 */
export function effectivePriority(base: number, tracked: readonly TrackedObject[]): PriorityVerdict {
  const fault: string[] = [];
  const pending: string[] = [];
  const adjustments: Array<{ name: string; delta: number }> = [];
  const faultWords: string[] = [];
  const adjustmentWords: string[] = [];

  for (const t of tracked) {
    const multiplier = t.reverse ? -1 : 1;
    const rev = t.reverse ? ' reverse' : '';
    if (t.weight === 0) {
      if (t.status === 'init') {
        pending.push(t.name);
        continue;
      }
      // keepalived: `script_ok != (multiplier == 1)` takes the instance down.
      if ((t.status === 'good') !== (multiplier === 1)) {
        fault.push(t.name);
        faultWords.push(`${t.name} ${t.status} (weight 0${rev})`);
      }
      continue;
    }
    if (t.status === 'init') continue;
    let delta = 0;
    if (t.status === 'good' && t.weight > 0) delta = t.weight * multiplier;
    if (t.status === 'failing' && t.weight < 0) delta = t.weight * multiplier;
    if (delta !== 0) {
      adjustments.push({ name: t.name, delta });
      adjustmentWords.push(`${t.name} ${t.status} (weight ${t.weight}${rev}) ${delta > 0 ? '+' : '-'}${Math.abs(delta)}`);
    }
  }

  const total = base + adjustments.reduce((sum, a) => sum + a.delta, 0);
  let priority: number;
  let clamp = '';
  if (base === OWNER_PRIORITY) {
    priority = OWNER_PRIORITY;
  } else if (total < 1) {
    priority = 1;
    clamp = `, ${total} clamped to 1`;
  } else if (total >= OWNER_PRIORITY) {
    priority = OWNER_PRIORITY - 1;
    clamp = `, ${total} clamped to ${OWNER_PRIORITY - 1}`;
  } else {
    priority = total;
  }

  const parts: string[] = [];
  if (fault.length > 0) parts.push(`FAULT: ${faultWords.join(', ')}`);
  if (base === OWNER_PRIORITY) {
    parts.push('priority 255: address owner, weights not applied');
  } else if (adjustments.length === 0) {
    parts.push(`priority ${priority}: base ${base}, no adjustment`);
  } else {
    parts.push(`priority ${priority}: base ${base}, ${adjustmentWords.join(', ')}${clamp}`);
  }
  if (pending.length > 0) parts.push(`waiting for the first result of ${pending.join(', ')}`);
  // The owner's priority is never adjusted, so nothing was added or taken.
  return { priority, fault, pending, adjustments: base === OWNER_PRIORITY ? [] : adjustments, reason: parts.join('; ') };
}
