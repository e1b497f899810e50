"""Recordings (frames.bin, commands.bin) and the `replay` command."""

from __future__ import annotations

from test_targets import PRIOR, canned_frames

from host_tools.commands.cli import main
from host_tools.link import recording, wire
from host_tools.link.targets import CPythonTarget


def record_session(directory, n=50, firmware_dir=None):
    target = CPythonTarget(firmware_dir)
    sent, received = target.start_recording()
    target.hello()
    target.init(wire.Init(**PRIOR.__dict__))
    frames = canned_frames(n)
    for f in frames:
        target.step(f)
    target.close()
    recording.write(directory, sent, received)
    return frames


def test_a_recording_holds_the_init_and_sensor_frames_exactly_as_sent(tmp_path):
    # GIVEN a recorded session WHEN read back THEN one session with every frame, raw bytes equal
    frames = record_session(tmp_path, n=30)
    sessions = recording.read_sessions(tmp_path)
    assert len(sessions) == 1
    s = sessions[0]
    assert s.init.z == PRIOR.z and len(s.sensors) == 30
    assert [x.t_us for x in s.sensors] == [f.t_us for f in frames]
    assert b"".join([s.init_raw] + s.sensors_raw) == (tmp_path / "frames.bin").read_bytes()
    commands = recording.read_commands(tmp_path / "commands.bin")
    assert len(commands) == 30 and [c.seq for c in commands] == [x.seq for x in s.sensors]


def test_replay_of_a_missing_or_corrupt_recording_exits_2_with_one_line(tmp_path, capsys):
    # GIVEN no file, then a truncated one WHEN replayed THEN exit 2 and a one-line message
    assert main(["replay", str(tmp_path / "nothing"), "--target", "cpython"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such recording" in err
    record_session(tmp_path, n=5)
    data = (tmp_path / "frames.bin").read_bytes()
    (tmp_path / "frames.bin").write_bytes(data[:-3])
    assert main(["replay", str(tmp_path), "--target", "cpython"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "truncated" in err and "Traceback" not in err


def test_replay_of_garbage_exits_2(tmp_path, capsys):
    (tmp_path / "frames.bin").write_bytes(b"\x00" * 40)
    assert main(["replay", str(tmp_path / "frames.bin"), "--target", "cpython"]) == 2
    assert "no frame at byte 0" in capsys.readouterr().err


def test_replay_of_a_session_agrees_with_the_model(tmp_path, capsys):
    # GIVEN a session recorded on the cpython target WHEN replayed on it THEN exit 0
    record_session(tmp_path, n=200)
    code = main(["replay", str(tmp_path), "--target", "cpython"])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    assert "every command agrees" in out.out


def test_replay_against_a_perturbed_recording_exits_1_naming_step_field_and_frame(tmp_path, capsys):
    # GIVEN a commands.bin whose 7th command was changed (a board that answered wrongly)
    record_session(tmp_path, n=20)
    commands = recording.read_commands(tmp_path / "commands.bin")
    commands[6].steps += 1
    (tmp_path / "commands.bin").write_bytes(b"".join(wire.encode_command(c) for c in commands))
    # WHEN only the recorded commands are checked
    code = main(["replay", str(tmp_path), "--target", "none"])
    err = capsys.readouterr().err
    # THEN exit 1 with the first diverging step, the field, both values and the frame
    assert code == 1
    assert "step 7" in err and "field steps: target 8, model 7" in err and "SENSOR seq=" in err


def test_a_test_ratio_is_allowed_the_cancellation_of_its_innovation_and_no_more():
    # GIVEN the one command of a 2,000-case campaign that differed (case 502, 1.5 km up, the
    # attitude not believed for a minute): the range finder's test ratio 0.0521118284 on the
    # firmware, 0.0521118297 in the model, 2.5e-8 of itself, above the plain bound (1e-9)
    import numpy as np

    from host_tools.reference.compare import DOUBLE
    t, m = np.array([0.05211182839932409]), np.array([0.05211182972458254])
    plain = DOUBLE.bound("lrf_test_ratio", t, m)
    assert abs(t - m)[0] > plain[0]
    # WHEN the bound allows for its innovation being a difference of 1.5 km heights (each
    # within 1e-9 of itself) over sqrt(S) = 0.8 m
    heights, s_var = np.array([1535.0 + 1531.0]), np.array([0.64])
    bound = plain + DOUBLE.ratio_bound(t, m, heights, s_var)
    # THEN that difference is within it, and one of 1e-5 (a wrong innovation) is not
    assert abs(t - m)[0] <= bound[0]
    assert 1e-5 > bound[0]


def test_the_throttle_is_allowed_what_its_speed_reference_carries_and_no_more():
    # GIVEN the one command of a 2,000-case campaign that differed once the descent waited for
    # vx (case 944, 3.2 km up at 72 m/s down): throttle 0.8075820781 on the firmware,
    # 0.8075820761 in the model, 2.0e-9 apart, above the plain bound (1.8e-9)
    import numpy as np

    from host_tools.reference.compare import DOUBLE, SINGLE
    t, m = np.array([0.8075820780990718]), np.array([0.8075820760626351])
    plain = DOUBLE.bound("throttle", t, m)
    assert abs(t - m)[0] > plain[0]
    # WHEN the bound allows for a speed reference of the size of vz within rel of itself
    vz = np.array([-72.460845849986])
    bound = plain + DOUBLE.throttle_bound(vz, vz)
    # THEN that difference is within it, one of 1e-6 (a wrong reference) is not, and the
    # single-precision bound is not widened by it
    assert abs(t - m)[0] <= bound[0] < 1e-6
    assert SINGLE.throttle_bound(vz, vz)[0] == 0.0
