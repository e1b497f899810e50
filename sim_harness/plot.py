"""plot.png of one run (matplotlib, Agg): the descent at a glance.

Five panels against time, sharing the time axis; fault windows of the scenario shaded red:
  1. height above the terrain: truth, the firmware's estimate with its +-3 sigma band, and each
     altimeter's raw readings (slant ranges, valid fresh samples only); symlog scale so the
     last metres are as readable as the first kilometres;
  2. the estimate's error (estimate - truth) with its +-3 sigma band;
  3. health state of each altimeter (and of the velocimeter, when one is fitted) and the flight
     mode, as coloured bands;
  4. vertical speed, true and estimated, and the true horizontal speed; with a velocimeter, also
     the estimated horizontal speed and the velocity its two beams give (`beam_velocity`: vx and
     vz from each sample's beams as sent, with the attitude reading of its frame, where both
     beams are valid);
  5. throttle command and the thrust delivered (as a fraction of maximum), and pitch.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from sim_harness.closedloop import RunResult  # noqa: E402

HEALTH_COLOURS = {"not_acquired": "#bdbdbd", "ok": "#4caf50", "suspect": "#ffb300", "rejected": "#e53935",
                  "failed": "#6a1b9a"}
MODE_COLOURS = {"standby": "#eeeeee", "braking": "#1e88e5", "approach": "#42a5f5", "terminal": "#90caf9",
                "touchdown": "#43a047", "altitude_unknown": "#fb8c00", "low_propellant": "#e53935",
                "link_lost": "#8e24aa"}


def _save(fig, path) -> None:
    """Save the figure as PNG, atomically (host_tools.base.outputs), and close it."""
    from host_tools.base import outputs

    try:
        with outputs.replacing(path, "wb") as f:
            fig.savefig(f, dpi=110, format="png")
    finally:
        plt.close(fig)


def _segments(t: np.ndarray, states: np.ndarray, dt: float):
    """(start, width, state) runs of constant state."""
    if len(t) == 0:
        return []
    change = np.flatnonzero(states[1:] != states[:-1]) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change, [len(t)]))
    return [(t[a], t[b - 1] - t[a] + dt, states[a]) for a, b in zip(starts, ends, strict=True)]


def beam_velocity(a: np.ndarray, b: np.ndarray, pitch: np.ndarray,
                  cant: float) -> tuple[np.ndarray, np.ndarray]:
    """(vx, vz) [m/s] from the two beams' line-of-sight speeds a (at pitch - cant) and b (at
    pitch + cant): along the thrust axis u = (a + b) / (2 cos cant), across it
    w = (b - a) / (2 sin cant); vx = u sin(pitch) + w cos(pitch), vz = w sin(pitch) - u cos(pitch)
    (docs/algorithms.md section 3b, the firmware's geometry)."""
    u = (a + b) / (2.0 * np.cos(cant))
    w = (b - a) / (2.0 * np.sin(cant))
    sp, cp = np.sin(pitch), np.cos(pitch)
    return u * sp + w * cp, w * sp - u * cp


def plot_run(result: RunResult, summary: dict, path) -> None:
    s = result.scenario
    c = result.column
    vel = s.sensors.velocimeter.fitted
    fig, axes = plt.subplots(5, 1, figsize=(11, 14), sharex=True,
                             gridspec_kw={"height_ratios": [3, 1.6, 1.4 if vel else 1.1, 1.8, 1.6]})
    td = summary["touchdown"]
    status = "PASS" if summary["passed"] else "FAIL"
    head = f"{s.name}  —  {summary['outcome']}"
    if td["time_s"] is not None:
        head += (f", touchdown {td['vertical_speed_mps']:.2f} m/s vertical, "
                 f"{td['horizontal_speed_mps']:.2f} m/s horizontal, {td['propellant_kg']:.1f} kg left")
    fig.suptitle(f"{head}  [{status}]", fontsize=12, fontweight="bold",
                 color="#2e7d32" if summary["passed"] else "#c62828")
    sub = f"target {result.target_name or '?'}, seed {s.seed}"
    if result.target_error:
        sub += f" — target error: {result.target_error}"
    fig.text(0.5, 0.955, sub, ha="center", fontsize=9, color="#555555")
    if not result.rows:
        for ax in axes:
            ax.text(0.5, 0.5, "no steps were run", ha="center", va="center", transform=ax.transAxes)
        _save(fig, path)
        return

    t = c("t_s")
    dt = 1.0 / s.control_rate_hz
    true_agl = c("agl_true_m")
    est = c("est_agl_m")
    sig = c("est_agl_sigma_m")
    for ax in axes:
        for f in s.faults:
            end = f.end_s if f.end_s is not None else t[-1] + dt
            if f.start_s <= t[-1]:
                ax.axvspan(f.start_s, min(end, t[-1] + dt), color="#ef9a9a", alpha=0.25, lw=0)
        ax.grid(True, alpha=0.3)

    ax = axes[0]
    ax.fill_between(t, est - 3 * sig, est + 3 * sig, color="#90caf9", alpha=0.45, lw=0,
                    label="estimate ±3σ")
    for name, colour, marker in (("radar", "#fb8c00", "."), ("lrf", "#8e24aa", "x")):
        fresh = (c(f"{name}_valid") > 0) & (c(f"{name}_new") > 0)
        if fresh.any():
            ax.plot(t[fresh], c(f"{name}_range_m")[fresh], marker, color=colour, ms=2.5, alpha=0.6,
                    label=f"{name} raw (slant range)")
    ax.plot(t, true_agl, color="black", lw=1.6, label="true height above terrain")
    ax.plot(t, est, color="#1565c0", lw=1.1, ls="--", label="estimate")
    ax.set_yscale("symlog", linthresh=10.0)
    ax.set_ylim(bottom=0.0)
    ax.set_ylabel("height above terrain [m]")
    handles, labels = ax.get_legend_handles_labels()
    if s.faults:
        handles.append(Patch(color="#ef9a9a", alpha=0.5))
        labels.append("injected fault")
    ax.legend(handles, labels, loc="upper right", fontsize=8, ncol=2)

    ax = axes[1]
    err = est - true_agl
    ax.fill_between(t, -3 * sig, 3 * sig, color="#90caf9", alpha=0.45, lw=0, label="±3σ")
    ax.plot(t, err, color="#1565c0", lw=1.0, label="estimate − truth")
    ax.axhline(0.0, color="black", lw=0.6)
    lim = max(5.0, float(np.nanpercentile(np.abs(err), 99)) * 1.5) if np.isfinite(err).any() else 5.0
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_ylim(-lim, lim)
    ax.set_ylabel("height error [m]")
    ax.legend(loc="upper right", fontsize=8)

    ax = axes[2]
    rows = (("radar", c("radar_health")), ("lrf", c("lrf_health")),
            *((("velocimeter", c("vel_health")),) if vel else ()), ("mode", c("mode")))
    for i, (name, states) in enumerate(rows):
        colours = MODE_COLOURS if name == "mode" else HEALTH_COLOURS
        for start, width, state in _segments(t, states, dt):
            ax.broken_barh([(start, width)], (i - 0.4, 0.8), color=colours.get(state, "#000000"))
            if width > 0.06 * (t[-1] - t[0] + dt):
                ax.text(start + width / 2, i, state.replace("_", " "), ha="center", va="center", fontsize=7)
    ax.set_yticks(range(len(rows)), [r[0] for r in rows])
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.legend(handles=[Patch(color=v, label=k.replace("_", " ")) for k, v in HEALTH_COLOURS.items()],
              loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=5, fontsize=7, frameon=False)

    ax = axes[3]
    ax.plot(t, c("vz_mps"), color="black", lw=1.4, label="true vz")
    ax.plot(t, c("est_vz_mps"), color="#1565c0", lw=1.0, ls="--", label="estimated vz")
    ax.plot(t, c("vx_mps"), color="#6d4c41", lw=1.0, ls=":", label="true vx")
    if vel:
        # a sample's own frame only (its reading with the attitude it was taken at): samples are
        # at j / rate_hz, each delivered in the first frame at or after it (sim_harness.sensors)
        j = np.floor(t * s.sensors.velocimeter.rate_hz + 1e-9)
        fresh = np.concatenate(([True], j[1:] > j[:-1]))
        both = fresh & (c("beam_a_valid") > 0) & (c("beam_b_valid") > 0)
        ax.plot(t, c("est_vx_mps"), color="#d81b60", lw=1.0, ls="--", label="estimated vx")
        if both.any():
            bvx, bvz = beam_velocity(c("beam_a_mps")[both], c("beam_b_mps")[both], c("pitch_meas_rad")[both],
                                     s.sensors.velocimeter.cant_rad)
            # under the true lines (zorder 1.5 < 2), so the truth stays visible through them
            ax.plot(t[both], bvx, ".", color="#00acc1", ms=1.5, alpha=0.6, zorder=1.5,
                    label="velocimeter vx (both beams)")
            ax.plot(t[both], bvz, ".", color="#7cb342", ms=1.5, alpha=0.6, zorder=1.5,
                    label="velocimeter vz (both beams)")
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_ylabel("speed [m/s]")
    if vel:
        ax.legend(loc="lower right", fontsize=8, ncol=2, markerscale=5)
    else:
        ax.legend(loc="lower right", fontsize=8)

    ax = axes[4]
    ax.plot(t, c("throttle_cmd"), color="#e65100", lw=1.0, label="throttle command")
    ax.plot(t, c("thrust_n") / s.vehicle.max_thrust_n, color="black", lw=1.2, alpha=0.7,
            label="thrust / max")
    ax.set_ylim(-0.05, 1.05)
    ax.set_ylabel("throttle [1]")
    ax2 = ax.twinx()
    ax2.plot(t, c("pitch_rad"), color="#00897b", lw=1.0, label="pitch")
    ax2.set_ylabel("pitch [rad]", color="#00897b")
    lines = ax.get_lines() + ax2.get_lines()
    ax.legend(lines, [ln.get_label() for ln in lines], loc="upper right", fontsize=8)
    ax.set_xlabel("time [s]")
    ax.set_xlim(t[0] - dt, t[-1] + dt)

    fig.tight_layout(rect=(0, 0, 1, 0.95))
    _save(fig, path)
