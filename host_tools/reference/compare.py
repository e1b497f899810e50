"""Back-to-back checking: the commands a target gave, against the reference model fed the same frames.

The model (host_tools.reference.model) is fed every INIT and SENSOR frame a target received and each
COMMAND field is compared with the tolerances of docs/reference.md: on a double-precision target
|target − model| ≤ rel·max(|target|, |model|) + abs_floor(field); the discrete fields (time,
mode, health, reason, fault flags, steps; the link counters as increments) must be equal.

A run's comparison stops at its first difference, which is either

- a *flip*: a decision of the model lay within rounding of its threshold (at that step or
  before it) and the target decided the other way; reported as step, decision, value and
  threshold, and not counted as a mismatch; or
- a *mismatch*: reported with the step, the field, both values and the frame that caused it.

The link counters (`rx_errors`, `frames_rejected`) are the link's, not the flight software's:
bytes the firmware could not read and frames it refused that the host never sent (noise on a
serial line, a second program writing to the port) raise them without any fault of the
firmware. Their increments beyond the model's are counted and reported (`Result.link`, the
`link` entry of the reference block), never called a mismatch. Only a firmware that counts
fewer rejections than the frames it was sent and had to refuse (frames_rejected behind the
model's) is a mismatch.

Many runs are compared at once (the model is vectorised across runs), so a Monte Carlo batch
is checked at the model's speed. `check_runs` is the one entry point, for every command, and
`Result.block(i)` run i's `reference` block of summary.json. `CheckedTarget` wraps a target
for the closed loop and checks what passed through it when asked (`check_run()`, `result()`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from host_tools.link import wire
from host_tools.reference.altimeter import GATE
from host_tools.reference.common import G_MOON
from host_tools.reference.model import FLOAT_FIELDS, SENSOR_KEYS, ReferenceModel, priors_from

# The natural size of each float field: the absolute floor of its tolerance is a multiple of it.
FIELD_SCALE = {
    "throttle": 1.0, "pitch_cmd": 1.0,  # [1], [rad]
    "agl": 1e4, "agl_sigma": 1e4, "z": 1e4, "z_sigma": 1e4,  # [m]
    "terrain": 1e4, "terrain_sigma": 1e4,  # [m]
    "vz": 100.0, "vz_sigma": 100.0, "vx": 100.0, "vx_sigma": 100.0,  # [m/s]
    "accel_bias": 1.0, "accel_bias_sigma": 1.0,  # [m/s^2]
    "mass": 1e3,  # [kg]
    "radar_test_ratio": 1.0, "lrf_test_ratio": 1.0, "vel_test_ratio": 1.0,  # [1]
}
# a test ratio, the readings its innovation is made of, and the estimate they are compared
# with (docs/reference.md)
_RATIO_SOURCE = {"radar_test_ratio": (("radar_range",), ("agl",)),
                 "lrf_test_ratio": (("lrf_range",), ("agl",)),
                 "vel_test_ratio": (("beam_a", "beam_b"), ("vx", "vz"))}
EXACT_FIELDS = ("t_us", "mode", "radar_health", "radar_reason", "lrf_health", "lrf_reason",
                "vel_health", "vel_reason", "fault_flags", "steps")
COUNTER_FIELDS = ("rx_errors", "frames_rejected")  # the link's: increments from the first command
COUNTER_WRAP = 1 << 16  # they are 16-bit on the wire


@dataclass(frozen=True)
class Tolerance:
    """How far a target may sit from the model (docs/reference.md derives the numbers)."""

    name: str
    dtype: type
    rel: float  # [1] relative part
    floor: float  # [1] absolute floor, as a fraction of FIELD_SCALE
    flip: float  # [1] a decision closer than this (|value − threshold| / scale) may flip
    speed_gain: float = 0.0  # [s/m] throttle per unit of its speed reference (throttle_bound)

    def bound(self, name: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self.rel * np.maximum(np.abs(a), np.abs(b)) + self.floor * FIELD_SCALE[name]

    def ratio_bound(self, a: np.ndarray, b: np.ndarray, heights: np.ndarray,
                    innov_var: np.ndarray) -> np.ndarray:
        """The part of a test ratio's bound that its innovation's cancellation adds: the ratio is
        nu^2 / (GATE^2 S), nu a difference of heights of size `heights` [m], each within rel of
        itself, so the ratio is within 2 sqrt(ratio) rel heights / (GATE sqrt(S)) of itself."""
        ratio = np.maximum(np.maximum(a, b), 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            extra = 2.0 * np.sqrt(ratio) * self.rel * heights / (GATE * np.sqrt(innov_var))
        return np.where(np.isfinite(extra) & (innov_var > 0.0), extra, 0.0)

    def throttle_bound(self, vz_a: np.ndarray, vz_b: np.ndarray) -> np.ndarray:
        """The part of the throttle's bound that its speed reference adds: the reference (the
        profile, the wait for vx) is of the size of vz and within rel of itself, and the throttle
        law turns it into throttle with the gain K_V·mass/max_thrust <= speed_gain [s/m]."""
        vz = np.maximum(np.abs(vz_a), np.abs(vz_b))
        return np.where(np.isfinite(vz), self.rel * self.speed_gain * vz, 0.0)


DOUBLE = Tolerance("double", np.float64, rel=1e-9, floor=1e-9, flip=1e-9, speed_gain=1.0 / G_MOON)
# (single: rel is four orders above float32's rounding, and the throttle uses a fifth of its
# bound at most: docs/reference.md)
SINGLE = Tolerance("single", np.float32, rel=1e-3, floor=1e-4, flip=1e-3)


def tolerance_for(float_bits: int) -> Tolerance:
    return SINGLE if float_bits == 32 else DOUBLE


@dataclass
class Run:
    """What one target saw and said: an INIT (and its acknowledgement) and SENSOR frames with the
    COMMAND answered to each (None where it answered nothing)."""

    init: wire.Init
    sensors: list[wire.Sensor]
    commands: list[wire.Command | None]
    init_accepted: bool | None = None
    label: str = ""


@dataclass
class Difference:
    kind: str  # "mismatch" | "flip"
    run: int
    step: int  # 1-based index of the SENSOR frame after INIT
    message: str
    field: str = ""
    target_value: object = None
    model_value: object = None
    frame: wire.Sensor | None = None
    decision: str = ""
    decision_step: int = 0


@dataclass
class Result:
    tolerance: str
    runs: int = 0
    steps_compared: int = 0
    max_throttle_diff: float = 0.0
    max_diff_over_tolerance: float = 0.0  # worst |diff| / bound over all float fields and steps
    worst_field: str = ""
    mismatches: int = 0
    differences: list[Difference] = field(default_factory=list)
    # the link's share of the counters, per run: increments the model does not explain
    link_per_run: list[dict] = field(default_factory=list)
    # per run: steps_compared, max_throttle_diff, max_diff_over_tolerance, worst_field
    per_run: list[dict] = field(default_factory=list)

    @property
    def link(self) -> dict:
        """Over all runs: receive errors and frames rejected that the host did not send, and how
        many runs saw any. Errors of the link, reported, not compared."""
        rx = sum(d["rx_errors"] for d in self.link_per_run)
        fr = sum(d["frames_rejected"] for d in self.link_per_run)
        runs = sum(1 for d in self.link_per_run if d["rx_errors"] or d["frames_rejected"])
        return {"rx_errors": rx, "frames_rejected": fr, "runs_with_errors": runs}

    @property
    def first_mismatch(self) -> Difference | None:
        return next((d for d in self.differences if d.kind == "mismatch"), None)

    @property
    def flips(self) -> list[Difference]:
        return [d for d in self.differences if d.kind == "flip"]

    @property
    def ok(self) -> bool:
        return self.mismatches == 0

    def block(self, i: int) -> dict:
        """Run i's `reference` block of summary.json (CONTRACT section 4), extended: the same
        keys whichever command compared it, alone or among many runs."""
        mine = [d for d in self.differences if d.run == i]
        mismatches = [d for d in mine if d.kind == "mismatch"]
        link = self.link_per_run[i] if i < len(self.link_per_run) else {"rx_errors": 0, "frames_rejected": 0}
        stats = self.per_run[i] if i < len(self.per_run) else {
            "steps_compared": 0, "max_throttle_diff": 0.0, "max_diff_over_tolerance": 0.0, "worst_field": ""}
        return {
            **stats,
            "mismatches": len(mismatches),
            "tolerance": self.tolerance,
            "first_mismatch": mismatches[0].message if mismatches else None,
            "flips": [d.message for d in mine if d.kind == "flip"],
            "link": {**link, "runs_with_errors": int(any(link.values()))},
        }

    def blocks(self) -> list[dict]:
        """Every run's `reference` block, in the order of the runs."""
        return [self.block(i) for i in range(self.runs)]

    def verdict(self) -> str:
        head = (f"reference ({self.tolerance}): {self.steps_compared} steps compared over {self.runs} "
                f"run(s), max throttle diff {self.max_throttle_diff:.3g}, worst field "
                f"{self.worst_field or '-'} at {self.max_diff_over_tolerance:.3g} of its tolerance")
        lines = [head]
        link = self.link
        if link["rx_errors"] or link["frames_rejected"]:
            lines.append(f"link: {link['rx_errors']} receive errors and {link['frames_rejected']} frames "
                         f"rejected that the host did not send, in {link['runs_with_errors']} run(s): the "
                         f"link's, not compared")
        for d in self.differences:
            lines.append(("MISMATCH " if d.kind == "mismatch" else "FLIP (explained) ") + d.message)
        if self.ok:
            lines.append("agrees with the model" + (" (comparison stopped at a flip)" if self.flips else ""))
        return "\n".join(lines)


def describe_frame(s: wire.Sensor) -> str:
    flag_names = [n for b, n in ((wire.RADAR_VALID, "radar_valid"), (wire.RADAR_NEW, "radar_new"),
                                 (wire.LRF_VALID, "lrf_valid"), (wire.LRF_NEW, "lrf_new"),
                                 (wire.CONTACT, "contact")) if s.flags & b]
    return (f"SENSOR seq={s.seq} t_us={s.t_us} f_axial={s.f_axial!r} f_lateral={s.f_lateral!r} "
            f"pitch={s.pitch!r} radar_range={s.radar_range!r} lrf_range={s.lrf_range!r} "
            f"flags=0x{s.flags:02x}({'|'.join(flag_names) or '-'})")


def _fmt(v: object) -> str:
    return repr(float(v)) if isinstance(v, float | np.floating) else repr(int(v))  # type: ignore[arg-type]


# in the order of a control step, discrete fields first (core's flags and counters, the
# altimeters' health, the mode): when several differ in one step, the first names the cause
_ALL_FIELDS = (("t_us", "steps", "fault_flags") + COUNTER_FIELDS
               + ("radar_health", "radar_reason", "lrf_health", "lrf_reason", "vel_health", "vel_reason",
                  "mode") + FLOAT_FIELDS)
assert sorted(_ALL_FIELDS) == sorted(EXACT_FIELDS + COUNTER_FIELDS + FLOAT_FIELDS)
_COMMAND_COLUMN = {name: wire.COMMAND_FIELDS.index(name) for name in _ALL_FIELDS}
_SENSOR_COLUMN = {f.name: i for i, f in enumerate(fields(wire.Sensor))}


def compare_runs(runs: list[Run], tol: Tolerance = DOUBLE, label_prefix: str = "",
                 track: bool = True) -> Result:
    """Compare every command of every run with the model (vectorised across runs).

    track: record each step's decision nearest its threshold, so that a difference caused by
    a decision within rounding is reported as a flip; without it every difference is a
    mismatch (see check_runs, which tracks only the runs that differ).
    """
    res = Result(tolerance=tol.name, runs=len(runs))
    if not runs:
        return res
    nr = len(runs)
    model = ReferenceModel(nr, dtype=tol.dtype, track_decisions=track)
    acc = model.init(priors_from([r.init for r in runs]))
    alive = np.ones(nr, dtype=bool)
    for i, r in enumerate(runs):
        if r.init_accepted is not None and bool(r.init_accepted) != bool(acc[i]):
            alive[i] = False
            res.mismatches += 1
            res.differences.append(Difference(
                "mismatch", i, 0, f"{_label(runs, i, label_prefix)}INIT: the target "
                f"{'accepted' if r.init_accepted else 'rejected'} it, the model "
                f"{'accepted' if acc[i] else 'rejected'} it", field="init_ack",
                target_value=r.init_accepted, model_value=bool(acc[i])))
    lengths = np.array([len(r.sensors) for r in runs])
    kmax = int(lengths.max())
    # the target's answers as arrays (step, run); NaN / -1 where it answered nothing
    tvals = {k: np.full((kmax, nr), np.nan) for k in _ALL_FIELDS}
    answered = np.zeros((kmax, nr), dtype=bool)
    # the frames as arrays (step, run) too, padded with a zero frame past a run's end
    svals = {k: np.zeros((kmax, nr), dtype=np.int64 if k in ("t_us", "flags", "beam_flags") else np.float64)
             for k in (*SENSOR_KEYS, "t_us", "flags")}
    for i, r in enumerate(runs):
        # one table per run (a row per command, the dataclass's fields in order) rather than
        # a getattr per field and step: a campaign compares millions of values
        rows = [(k, tuple(c.__dict__.values())) for k, c in enumerate(r.commands) if c is not None]
        if rows:
            ks = np.array([k for k, _ in rows], dtype=np.int64)
            table = np.array([v for _, v in rows], dtype=np.float64)
            answered[ks, i] = True
            for name in _ALL_FIELDS:
                tvals[name][ks, i] = table[:, _COMMAND_COLUMN[name]]
        if r.sensors:
            frames = np.array([tuple(f.__dict__.values()) for f in r.sensors], dtype=np.float64)
            n = len(r.sensors)
            for name, array in svals.items():
                array[:n, i] = frames[:, _SENSOR_COLUMN[name]]
    base = {name: np.full(nr, np.nan) for name in COUNTER_FIELDS}  # target minus model offsets
    link = {name: np.zeros(nr, dtype=np.int64) for name in COUNTER_FIELDS}  # the link's share so far
    near_step = np.zeros(nr, dtype=np.int64)
    near_idx = np.full(nr, -1, dtype=np.int64)
    near_val = np.zeros(nr)
    near_thr = np.zeros(nr)
    near_margin = np.full(nr, np.inf)
    run_steps = np.zeros(nr, dtype=np.int64)  # per run, as res's totals
    run_throttle = np.zeros(nr)
    run_ratio = np.zeros(nr)
    run_worst = np.full(nr, -1, dtype=np.int64)  # index into FLOAT_FIELDS, -1: none
    for k in range(kmax):
        where = alive & (k < lengths)
        if not where.any():
            break
        out = model.step({name: array[k] for name, array in svals.items()}, where)
        close = where & (out["near_margin"] < tol.flip)
        if close.any():
            near_step = np.where(close, k + 1, near_step)
            near_idx = np.where(close, out["near_idx"], near_idx)
            near_val = np.where(close, out["near_value"], near_val)
            near_thr = np.where(close, out["near_threshold"], near_thr)
            near_margin = np.where(close, out["near_margin"], near_margin)
        ans = answered[k]
        bad = where & (ans != out["accepted"])
        both = where & ans & out["accepted"]
        first_fields: dict[int, str] = {}
        ratio_max = 0.0
        for name in _ALL_FIELDS:
            t = tvals[name][k]
            m = out.get(name)
            if name in COUNTER_FIELDS:
                m = model.frames_rejected if name == "frames_rejected" else np.zeros(nr)
                fresh = both & np.isnan(base[name])
                base[name] = np.where(fresh, t - m, base[name])
                with np.errstate(invalid="ignore"):
                    off = np.where(both, t - m - base[name], 0).astype(np.int64)
                # 16-bit counters: an offset is taken within -2^15 ..< 2^15 (wrap-around)
                off = (off + COUNTER_WRAP // 2) % COUNTER_WRAP - COUNTER_WRAP // 2
                link[name] = np.where(both, np.maximum(off, 0), link[name])
                # more errors than the model's: the link's (counted); fewer rejections than the
                # model made of the frames it was sent: the firmware's
                diff_bad = both & (off < 0) if name == "frames_rejected" else np.zeros(nr, dtype=bool)
            elif name in FLOAT_FIELDS:
                m = np.asarray(m, dtype=np.float64)
                with np.errstate(invalid="ignore", over="ignore"):
                    d = np.abs(t - m)
                    bound = tol.bound(name, t, m)
                    if name == "throttle":
                        bound = bound + tol.throttle_bound(tvals["vz"][k], out["vz"])
                    if name in _RATIO_SOURCE:
                        readings, estimates = _RATIO_SOURCE[name]
                        heights = sum(np.abs(svals[r][k]) for r in readings)
                        for e in estimates:
                            heights = heights + np.maximum(np.abs(tvals[e][k]), np.abs(out[e]))
                        var = out[name.replace("test_ratio", "innov_var")]
                        bound = bound + tol.ratio_bound(t, m, heights, var)
                    same = (t == m) | (np.isnan(t) & np.isnan(m))
                    ok = same | (d <= bound)
                    r_ = np.where(both & ~same & np.isfinite(d), d / bound, 0.0)
                rmax = float(r_.max()) if r_.size else 0.0
                if rmax > res.max_diff_over_tolerance:
                    res.max_diff_over_tolerance = rmax
                    res.worst_field = name
                run_worst = np.where(r_ > run_ratio, FLOAT_FIELDS.index(name), run_worst)
                run_ratio = np.maximum(run_ratio, r_)
                if name == "throttle":
                    dd = np.where(both & np.isfinite(d), d, 0.0)
                    res.max_throttle_diff = max(res.max_throttle_diff, float(dd.max()))
                    run_throttle = np.maximum(run_throttle, dd)
                ratio_max = max(ratio_max, rmax)
                diff_bad = both & ~ok
            else:
                diff_bad = both & (t != np.asarray(m))
            for i in np.flatnonzero(diff_bad):
                first_fields.setdefault(int(i), name)
        res.steps_compared += int(both.sum())
        run_steps += both
        for i in sorted(set(np.flatnonzero(bad).tolist()) | set(first_fields)):
            r = runs[i]
            frame = r.sensors[k]
            lab = _label(runs, i, label_prefix)
            alive[i] = False
            if i in first_fields:
                name = first_fields[i]
                tv, mv = tvals[name][k, i], out[name][i] if name in out else None
                if name in COUNTER_FIELDS:
                    mv = (model.frames_rejected[i] if name == "frames_rejected" else 0) + base[name][i]
                if name not in FLOAT_FIELDS:  # kept as floats beside the float fields
                    tv, mv = int(tv), int(mv)  # type: ignore[arg-type]
                what = f"field {name}: target {_fmt(tv)}, model {_fmt(mv)}"
            else:
                name = "answer"
                tv, mv = bool(ans[i]), bool(out["accepted"][i])
                what = ("the target answered a frame the model rejects (time not advancing)" if ans[i]
                        else "the target did not answer a frame the model accepts")
            if near_idx[i] >= 0:
                dname = model.near_names(near_idx[i:i + 1])[0]
                msg = (f"{lab}step {k + 1}: {what}; explained by a decision within rounding of its "
                       f"threshold at step {near_step[i]}: {dname} = {near_val[i]!r} against "
                       f"{near_thr[i]!r} (margin {near_margin[i]:.2g} of scale); comparison of this "
                       f"run stops here")
                res.differences.append(Difference("flip", i, k + 1, msg, name, tv, mv, frame, dname,
                                                  int(near_step[i])))
            else:
                res.mismatches += 1
                msg = f"{lab}step {k + 1} (t_us {frame.t_us}): {what}; frame: {describe_frame(frame)}"
                res.differences.append(Difference("mismatch", i, k + 1, msg, name, tv, mv, frame))
    res.link_per_run = [{name: int(link[name][i]) for name in COUNTER_FIELDS} for i in range(nr)]
    res.per_run = [{"steps_compared": int(run_steps[i]), "max_throttle_diff": float(run_throttle[i]),
                    "max_diff_over_tolerance": float(run_ratio[i]),
                    "worst_field": FLOAT_FIELDS[run_worst[i]] if run_worst[i] >= 0 else ""}
                   for i in range(nr)]
    return res


def as_sent(frame):
    """A SENSOR or INIT frame as the firmware receives it (floats rounded as the wire carries
    them): decoded from its own encoding."""
    if isinstance(frame, wire.Sensor):
        raw = wire.encode_sensor(frame)
    else:
        raw = wire.encode_init(frame)
    return wire.decode_body(raw[3], frame.seq & 0xFFFF, raw[6:-4])


def _label(runs: list[Run], i: int, prefix: str) -> str:
    lab = runs[i].label or (f"run {i}" if len(runs) > 1 else "")
    lab = prefix + lab
    return f"{lab}: " if lab else ""


class CheckedTarget:
    """A target that keeps what passes through it (INIT, SENSOR frames, answers) for a check.

    Drop-in for run_scenario: `init`, `step`, `close`, and every other attribute of the target.
    `result(tol)` compares everything seen so far with the model.
    """

    def __init__(self, target, label: str = "", batch: bool = False) -> None:
        self.target = target
        self.runs: list[Run] = []
        self.label = label
        if batch:  # the caller compares many runs at once; no check after each run
            self.check_run = None  # type: ignore[method-assign]

    def __getattr__(self, name: str):
        return getattr(self.target, name)

    def init(self, init: wire.Init):
        kept = as_sent(init)
        ack = self.target.init(init)
        self.runs.append(Run(kept, [], [], None if ack is None else bool(ack), self.label))
        return ack

    def step(self, sensor: wire.Sensor):
        cmd = self.target.step(sensor)
        kept = as_sent(sensor)
        if self.runs:
            self.runs[-1].sensors.append(kept)
            self.runs[-1].commands.append(cmd)
        return cmd

    def close(self) -> None:
        self.target.close()

    def check_run(self) -> dict:
        """Compare the last run with the model, forget it, and return summary.json's `reference` block."""
        if not self.runs:
            return {"steps_compared": 0, "max_throttle_diff": 0.0, "mismatches": 0}
        run = self.runs.pop()
        tol = tolerance_for(int(getattr(self.target, "float_bits", 64) or 64))
        return check_runs([run], tol).block(0)

    def result(self, tol: Tolerance | None = None) -> Result:
        if tol is None:
            tol = tolerance_for(int(getattr(self.target, "float_bits", 64) or 64))
        return check_runs(self.runs, tol)


def check_runs(runs: list[Run], tol: Tolerance = DOUBLE) -> Result:
    """The reference check: every command of every run against the model, one Result (its
    `block(i)` is run i's `reference` block). Every command that checks runs comes here: `sim`
    (CheckedTarget.check_run), `check` (the library), `montecarlo` and `campaign` (the
    cluster's blocks of runs) and `replay`.

    The model's cost is per step, nearly whatever the number of runs, so a library or a
    campaign is compared at once. Recording the decisions nearest their thresholds costs a
    third more, so the first pass does without, and only the runs that differ are compared
    again with it, to tell a flip (explained by rounding) from a mismatch.
    """
    first = compare_runs(runs, tol, track=False)
    differing = sorted({d.run for d in first.differences})
    if not differing:
        return first
    again = compare_runs([runs[i] for i in differing], tol, track=True)
    kept = [d for d in first.differences if d.run not in differing]
    for d in again.differences:
        d.run = differing[d.run]
        kept.append(d)
    first.differences = sorted(kept, key=lambda d: (d.run, d.step))
    first.mismatches = sum(1 for d in first.differences if d.kind == "mismatch")
    return first
