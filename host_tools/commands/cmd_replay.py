"""`lander replay FRAMES [--target T]`: recorded frames to a target, open loop, every command checked.

FRAMES is a frames.bin or a run directory holding one (docs/protocol.md, "Recordings"). Each
recorded INIT and SENSOR frame is sent to the target exactly as it was recorded, the answers
are collected, and every command is compared with the reference model fed the same frames
(host_tools.reference.compare). When a commands.bin lies beside the frames, the commands recorded in the
original session are checked against the model too (a board's session, replayed on the host).

Exit status: 0 every command agrees, 1 a mismatch (the first diverging step, field, both values
and the frame), 2 a missing or corrupt recording, or one with no SENSOR frame (nothing to
check), or a target where no firmware answers. Errors of the link (the firmware's rx_errors and
frames_rejected beyond the model's) are printed and are not a mismatch.
"""

from __future__ import annotations

import argparse

from host_tools.base.errors import CheckFailed, UsageError
from host_tools.commands.runs import path_arg
from host_tools.link import recording, wire
from host_tools.reference.compare import DOUBLE, SINGLE, Run, Tolerance, check_runs, tolerance_for


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("frames", type=path_arg, help="frames.bin, or a run directory holding one")
    p.add_argument("--target", default="vm",
                   help="cpython | vm | serial:PORT | pico-emu | none (default: vm; "
                   "none checks only the recorded commands.bin)")
    p.add_argument("--precision", choices=("auto", "64", "32"), default="auto",
                   help="tolerances of a double (64) or single (32) precision target (default: the "
                        "float width the target reports; 64 for a recording alone)")


def _tolerance(choice: str, float_bits: int) -> Tolerance:
    if choice == "64":
        return DOUBLE
    if choice == "32":
        return SINGLE
    return tolerance_for(float_bits)


def replay_sessions(target, sessions: list[recording.Session]) -> list[Run]:
    """Send every recorded frame to `target` as recorded; collect the answers."""
    runs = []
    for n, s in enumerate(sessions):
        target.seq = s.init.seq
        ack = target.request(s.init_raw, wire.INIT_ACK, s.init.seq)
        run = Run(s.init, s.sensors, [], bool(ack), label=f"session {n + 1}" if len(sessions) > 1 else "")
        last_t = s.init.t_us if ack else None
        for sensor, raw in zip(s.sensors, s.sensors_raw, strict=True):
            target.seq = sensor.seq
            if last_t is not None and sensor.t_us <= last_t:
                # the protocol says this frame is rejected unanswered: do not wait for an answer
                got = [f for f in target.send_raw(raw, settle=0.05) if f[0] == wire.COMMAND]
                run.commands.append(wire.decode_body(*got[0]) if got else None)  # type: ignore[arg-type]
                continue
            cmd = target.request(raw, wire.COMMAND, sensor.seq)
            run.commands.append(cmd)  # type: ignore[arg-type]
            if last_t is not None:
                last_t = sensor.t_us
        runs.append(run)
    return runs


def recorded_runs(sessions: list[recording.Session], commands: list[wire.Command]) -> list[Run]:
    """Pair the recorded commands with the recorded frames (by SEQ, within each session)."""
    by_seq: dict[int, list[wire.Command]] = {}
    for c in commands:
        by_seq.setdefault(c.seq, []).append(c)
    runs = []
    for n, s in enumerate(sessions):
        answers: list[wire.Command | None] = []
        for sensor in s.sensors:
            queue = by_seq.get(sensor.seq)
            answers.append(queue.pop(0) if queue and queue[0].t_us == sensor.t_us else None)
        runs.append(Run(s.init, s.sensors, answers, None,
                        label=f"session {n + 1}" if len(sessions) > 1 else ""))
    return runs


def run(args: argparse.Namespace) -> int:
    from host_tools.commands.runs import target as open_named

    try:
        frames_path = recording.resolve(args.frames)
        sessions = recording.read_sessions(frames_path)
        commands_path = frames_path.parent / recording.COMMANDS_FILE
        recorded = recording.read_commands(commands_path) if commands_path.is_file() else None
    except recording.RecordingError as e:
        raise UsageError(str(e)) from None
    nframes = sum(len(s.sensors) for s in sessions)
    print(f"{frames_path}: {len(sessions)} session(s), {nframes} sensor frames")
    failed = []
    if args.target != "none":
        with open_named(args.target) as target:
            ident = target.hello()
            tol = _tolerance(args.precision, ident.float_bits)
            runs = replay_sessions(target, sessions)
        result = check_runs(runs, tol)
        print(f"target {args.target} ({ident.board}, {ident.float_bits}-bit floats):")
        print("  " + result.verdict().replace("\n", "\n  "))
        if not result.ok:
            failed.append(f"target {args.target}: {result.first_mismatch.message}")  # type: ignore[union-attr]
    if recorded is not None:
        tol = _tolerance(args.precision, 64)
        result = check_runs(recorded_runs(sessions, recorded), tol)
        print(f"recorded commands ({commands_path.name}):")
        print("  " + result.verdict().replace("\n", "\n  "))
        if not result.ok:
            failed.append(f"recorded commands: {result.first_mismatch.message}")  # type: ignore[union-attr]
    elif args.target == "none":
        raise UsageError(f"{commands_path}: no such recording (needed with --target none)")
    if failed:
        raise CheckFailed("reference mismatch: " + failed[0])
    print("verdict: every command agrees with the reference model")
    return 0
