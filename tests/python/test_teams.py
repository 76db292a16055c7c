"""Colour team assignment (`fovea verify --teams`) on frames composited at test time from
tuxfootball's player sprites (two teams, their goalkeepers, a referee made by recolouring a
sprite) on a striped pitch, with known boxes and identities. Nothing derived from the sprites is
kept (GPL-2+): frames and boxes live in a temporary folder."""
import json
import os
import subprocess
from pathlib import Path


from sprite_clip import make

ROOT = Path(__file__).resolve().parents[2]
FOVEA = os.environ.get("FOVEA_BIN", str(ROOT / "target/debug/fovea"))


def test_two_teams_from_jersey_colours(tmp_path):
    video, boxes, frames = make(tmp_path)
    out = tmp_path / "v.jsonl"
    o = subprocess.run([FOVEA, "verify", str(video), "--boxes", str(boxes), "--teams", "-o", str(out)], capture_output=True, text=True)
    assert o.returncode == 0, o.stderr
    got = [json.loads(l) for l in out.read_text().splitlines()]
    who = {(int(f), o["id"]): o["who"] for f, fr in frames.items() for o in fr["objects"]}
    players = [(who[(r["frame"], r["id"])], r) for r in got if who[(r["frame"], r["id"])] in ("team1", "team2")]
    kept = [(w, r) for w, r in players if r["verdict"] == "keep"]
    assert len(kept) >= 0.9 * len(players), o.stderr
    # Which fovea team is team1: the majority; then >= 90% of the players right.
    t1 = [r["team"] for w, r in kept if w == "team1"]
    team1 = max(set(t1), key=t1.count)
    right = sum((r["team"] == team1) == (w == "team1") and r["team"] is not None for w, r in kept)
    assert right >= 0.9 * len(players), (right, len(players), o.stderr)
    print(o.stderr)
    check_roles(got, who)


def check_roles(got, who):
    """The referee (unlike both teams, among the players) and each goalkeeper (unlike its team, at
    the end of the play) are labelled as such by colour, with no team."""
    for w, role in (("referee", "referee"), ("team1_goalie", "goalkeeper"), ("team2_goalie", "goalkeeper")):
        rs = [r for r in got if who[(r["frame"], r["id"])] == w and r["verdict"] == "keep"]
        if not rs:
            continue
        right = [r for r in rs if r["label"] == role and r["source"] == "colour" and r["team"] is None]
        assert len(right) >= 0.9 * len(rs), (w, [(r["label"], r["source"], r["team"]) for r in rs])


def test_referee_and_goalkeeper_on_a_broadcast_view(tmp_path):
    """On the composited match (a camera on the left half, its goalkeeper by the goal, the referee
    in the middle): both named by colour, no team; players in two teams."""
    import score_clip
    video, sub, frames, _ = score_clip.make(tmp_path)
    out = tmp_path / "t.jsonl"
    o = subprocess.run([FOVEA, "verify", str(video), "--boxes", str(sub), "--teams", "--no-roi-tensors", "-o", str(out)], capture_output=True, text=True)
    assert o.returncode == 0, o.stderr
    got = [json.loads(l) for l in out.read_text().splitlines()]
    who = {(int(f), ob["id"]): ob["who"] for f, fr in frames.items() for ob in fr["objects"]}
    check_roles(got, who)
    for w in ("team1", "team2"):
        teams = [r["team"] for r in got if who[(r["frame"], r["id"])] == w and r["verdict"] == "keep"]
        assert teams.count(max(set(teams), key=teams.count)) >= 0.9 * len(teams), (w, teams)


def test_colour_decides_before_the_zero_shot_classifier(tmp_path):
    """With --teams and a classifier, the classifier sees only the boxes colour left undecided."""
    test_two_teams_from_jersey_colours(tmp_path)
    out = tmp_path / "c.jsonl"
    o = subprocess.run([FOVEA, "verify", str(tmp_path / "pitch.mkv"), "--boxes", str(tmp_path / "boxes.json"), "--teams",
                        "--classifier", str(ROOT / "tests/data/tiny_clip.toml"), "-o", str(out)], capture_output=True, text=True)
    assert o.returncode == 0, o.stderr
    got = [json.loads(l) for l in out.read_text().splitlines()]
    by_colour = [r for r in got if r["team"] is not None]
    by_classifier = [r for r in got if r["source"] == "classifier"]
    assert by_colour and all(r["source"] == "colour" for r in by_colour)
    assert all(r["team"] is None for r in by_classifier)
    import re
    m = re.search(r"colour (\d+) \| classifier (\d+) \| classifier calls saved by colour (\d+)", o.stderr)
    assert m, o.stderr
    colour, classified, saved = map(int, m.groups())
    assert colour == len(by_colour) and saved == colour and classified == len(by_classifier) and classified < colour, o.stderr


def test_detect_with_teams_on_the_composited_clip(tmp_path):
    """`fovea detect --teams`: NanoDet finds the sprites as people; their team field (tracks are
    short here, since the sprites jump between frames) puts most players in the right team."""
    test_two_teams_from_jersey_colours(tmp_path)
    out = tmp_path / "d.jsonl"
    o = subprocess.run([FOVEA, "detect", str(tmp_path / "pitch.mkv"), "--teams", "--model", str(ROOT / "engines/nanodet-g-416.toml"), "-q", "-o", str(out)],
                       capture_output=True, text=True)
    assert o.returncode == 0, o.stderr
    assert "colour teams: team 0" in o.stderr
    gt = json.loads((tmp_path / "boxes.json").read_text())["frames"]

    def iou(a, b):
        iw = max(0, min(a[2], b[2]) - max(a[0], b[0]))
        ih = max(0, min(a[3], b[3]) - max(a[1], b[1]))
        i = iw * ih
        return i / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i)

    pairs = []
    for line in out.read_text().splitlines():
        f = json.loads(line)
        for d in f["detections"]:
            assert "team" in d and d["team"] in (0, 1, None)
            best = max(gt[str(f["frame"])]["objects"], key=lambda ob: iou(ob["bbox"], d["bbox"]))
            if iou(best["bbox"], d["bbox"]) >= 0.5 and best["who"] in ("team1", "team2"):
                pairs.append((best["who"], d["team"]))
    assert len(pairs) >= 30, len(pairs)  # NanoDet finds about a quarter of the small sprites
    t1 = [t for w, t in pairs if w == "team1"]
    team1 = max(set(t1), key=t1.count)
    right = sum((t == team1) == (w == "team1") and t is not None for w, t in pairs)
    assert right >= 0.8 * len(pairs), (right, len(pairs))


def test_detect_classifier_sees_only_what_colour_left(tmp_path):
    test_two_teams_from_jersey_colours(tmp_path)
    out = tmp_path / "dc.jsonl"
    o = subprocess.run([FOVEA, "detect", str(tmp_path / "pitch.mkv"), "--teams", "--classifier", str(ROOT / "tests/data/tiny_clip.toml"),
                        "--model", str(ROOT / "engines/nanodet-g-416.toml"), "-q", "-o", str(out)], capture_output=True, text=True)
    assert o.returncode == 0, o.stderr
    import re
    m = re.search(r"classifier after colour: (\d+) objects classified, (\d+) answered from their track, (\d+) spared by colour", o.stderr)
    assert m, o.stderr
    classified, from_track, spared = map(int, m.groups())
    dets = [d for l in out.read_text().splitlines() for d in json.loads(l)["detections"]]
    by_classifier = [d for d in dets if d["source"] in ("classifier", "track")]
    assert len(by_classifier) == classified + from_track
    assert all(d["team"] is None for d in by_classifier)
    assert spared == sum(d["team"] is not None for d in dets) and spared > 5 * classified, o.stderr
