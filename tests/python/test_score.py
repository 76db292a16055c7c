"""`fovea score` against the validator's scoring written again here in NumPy/OpenCV (after
score-technologies/score-vision validator/evaluation/keypoint_scoring.py and bbox_clip.py), on a
clip composited at test time (score_clip.py): known camera homographies, painted pitch lines,
tuxfootball's sprites. Also the validator's rule file and fovea's duplicate/oversized rules on
planted boxes."""
import copy
import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest

import score_clip
from score_clip import TEMPLATE, W, H

ROOT = Path(__file__).resolve().parents[2]
FOVEA = os.environ.get("FOVEA_BIN", str(ROOT / "target/debug/fovea"))
if str(ROOT / "python") not in sys.path:
    sys.path.insert(0, str(ROOT / "python"))


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return score_clip.make(tmp_path_factory.mktemp("score"))


def score(video, sub, *extra):
    o = subprocess.run([FOVEA, "score", str(video), "--boxes", str(sub), "--json", *extra], capture_output=True, text=True)
    assert o.returncode == 0, o.stderr
    return json.loads(o.stdout)


# ---- the validator's keypoint scoring, written again -------------------------------------------

def valid(kps, size=None, min_dist=25):
    """get_valid_keypoints at score-vision 1791fe1: given, inside the frame, and at least 25 px
    from every keypoint kept before."""
    kps = np.asarray(kps, np.float64).reshape(-1, 2)
    m = ~np.all(kps == 0, axis=1)
    if size:
        m &= (kps[:, 0] >= 0) & (kps[:, 0] < size[0]) & (kps[:, 1] >= 0) & (kps[:, 1] < size[1])
    pts, idx = kps[m], np.where(m)[0]
    keep = []
    for i, p in enumerate(pts):
        if all(np.linalg.norm(p - pts[j]) >= min_dist for j in keep):
            keep.append(i)
    return pts[keep], idx[keep]


def consistency(frames, validate):
    """compute_scene_keypoint_consistency: per run of consecutive frame numbers."""
    diag = float(np.hypot(W, H))
    scores, prev = [], None
    for fid in sorted(validate):
        if prev is None or fid != prev + 1:
            scores.append(1.0)
        else:
            a, b = frames.get(str(prev)), frames.get(str(fid))
            if a is None or b is None or len(a["keypoints"]) != 32 or len(b["keypoints"]) != 32:
                scores.append(0.0)
            elif all(list(p) == [0, 0] for p in a["keypoints"]) and all(list(p) == [0, 0] for p in b["keypoints"]):
                scores.append(1.0)
            else:
                ka, ia = valid(a["keypoints"], (W, H))
                kb, ib = valid(b["keypoints"], (W, H))
                common = np.intersect1d(ia, ib)
                if len(common) == 0:
                    scores.append(0.0)
                else:
                    pa = np.array([ka[np.where(ia == i)[0][0]] for i in common])
                    pb = np.array([kb[np.where(ib == i)[0][0]] for i in common])
                    d = float(np.mean(np.linalg.norm(pb - pa, axis=1))) / diag
                    scores.append(1.0 / (1.0 + np.exp((d - 0.02) / 0.0037)))
        prev = fid
    return float(np.mean(scores)) if scores else 1.0


def estimate(kps):
    """estimate_homography_ransac: the validator's own call, cv2.findHomography(RANSAC) with its
    threshold and OpenCV's defaults (its RNG is seeded on every call: deterministic)."""
    scaled = TEMPLATE.astype(np.float32) * np.array([W / 7000, H / 12000])
    pts, idx = valid(kps, (W, H))
    if len(pts) < 4:
        return None
    dst = scaled[idx]
    Hm, mask = cv2.findHomography(pts, dst, cv2.RANSAC, max(W * 0.01, 12))
    if Hm is None or mask is None:
        return None
    inl = mask.ravel() == 1
    rep = cv2.perspectiveTransform(pts.reshape(-1, 1, 2), Hm).reshape(-1, 2)
    return Hm, float(mask.sum()) / mask.size, float(np.linalg.norm(rep - dst, axis=1).mean()), sorted(idx[~inl].tolist())


def reference(frames, on_line, validate):
    """The validator's keypoint score (score-vision 1791fe1) of `frames` (the miner file's frames)
    on the frames to validate, with fovea's per-frame line scores `on_line` (its line finder is
    checked separately)."""
    frames = {k: v for k, v in frames.items() if int(k) in validate}
    if not validate:
        return 0.0, {}, {}
    ids = sorted(int(k) for k in frames)
    centre = lambda b: np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2])
    # Segments.
    seg, cur, prev = {}, 0, {}
    for i, fid in enumerate(ids):
        now = {o["id"]: centre(o["bbox"]) for o in frames[str(fid)]["objects"] if o["class_id"] == 2}
        seg[fid] = cur
        if i > 0:
            jumps = sum(1 for k, c in now.items() if k in prev and np.linalg.norm(c - prev[k]) > 20)
            if now and jumps / len(now) >= 0.5:
                cur += 1
                seg[fid] = cur
        prev = now
    est = {fid: estimate(frames[str(fid)]["keypoints"]) for fid in ids}
    # Stability per segment (frame numbers sorted as text, as the validator's dict keys are).
    stab = {}
    for s in set(seg.values()):
        fs = [f for f in ids if seg[f] == s]
        hs = sorted((str(f) for f in fs if est[f] is not None))
        if len(fs) < 2:
            stab[s] = 1.0
            continue
        if len(hs) < 2:
            stab[s] = 0.5
            continue
        diffs = []
        for a, b in zip(hs, hs[1:]):
            pa, ia = valid(frames[a]["keypoints"])
            pb, ib = valid(frames[b]["keypoints"])
            common = np.intersect1d(ia, ib)
            if len(common) < 2:
                continue
            A = np.array([pa[np.where(ia == c)[0][0]] for c in common])
            B = np.array([pb[np.where(ib == c)[0][0]] for c in common])
            rel = [abs(np.linalg.norm(A[i] - A[j]) - np.linalg.norm(B[i] - B[j])) / (np.linalg.norm(A[i] - A[j]) + 1e-6)
                   for i in range(len(common)) for j in range(i + 1, len(common))]
            diffs.append(np.mean(rel))
        stab[s] = float(np.exp(-10 * np.mean(diffs))) if diffs else 0.5
    # Plausibility per segment.
    plaus = {}
    for s in set(seg.values()):
        fs = [f for f in ids if seg[f] == s]
        if len(fs) < 2:
            plaus[s] = 1.0
            continue
        bad = total = 0
        prevp = {}
        for i, f in enumerate(fs):
            now = {}
            for o in frames[str(f)]["objects"]:
                if o["class_id"] != 2:
                    continue
                c = centre(o["bbox"])
                now[o["id"]] = c
                if i > 0 and o["id"] in prevp and f - fs[i - 1] <= 2:
                    total += 1
                    bad += np.linalg.norm(c - prevp[o["id"]]) > 30
            prevp = now
        plaus[s] = max(0, 1 - bad / total) if total else 0.5
    # Player jumps.
    tracks = defaultdict(list)
    for f in ids:
        for o in frames[str(f)]["objects"]:
            if o["class_id"] == 2:
                tracks[o["id"]].append((f, centre(o["bbox"])))
    pts = n = 0
    for t in tracks.values():
        t.sort(key=lambda x: x[0])
        for (_, a), (_, b) in zip(t, t[1:]):
            j = np.linalg.norm(b - a)
            pts += 1 if (j <= 2 or j > 10) else 0.5
            n += 1
    player = pts / n * 100 if n else 0
    outline = np.array([TEMPLATE[i] for i in (0, 5, 29, 24)]).reshape(-1, 1, 2).astype(np.int32)
    per = {}
    for f in ids:
        e = est[f]
        if e is None:
            continue
        Hm, inl, err, outl = e
        kps, _ = valid(frames[str(f)]["keypoints"], (W, H))
        objs = [o for o in frames[str(f)]["objects"]
                if (o["class_id"] == 0 or (o["bbox"][2] - o["bbox"][0] >= 15 and o["bbox"][3] - o["bbox"][1] >= 40))
                and (o["bbox"][2] < 0 or o["bbox"][0] > W or o["bbox"][3] < 0 or o["bbox"][1] > 150)]
        cs = np.array([centre(o["bbox"]) for o in objs])
        inside = 0.0
        if len(cs):
            p = cv2.perspectiveTransform(cs.reshape(-1, 1, 2).astype(np.float32), Hm).reshape(-1, 2)
            inside = float(np.mean([cv2.pointPolygonTest(outline, (float(x), float(y)), False) >= 0 for x, y in p]))
        mp = lambda q: np.mean([np.linalg.norm(q[i] - q[j]) for i in range(len(q)) for j in range(i + 1, len(q))])
        ratio = 1.0 if len(kps) < 2 or len(cs) < 2 else mp(kps) / (mp(cs) + 1e-6)
        per[f] = dict(inlier_ratio=inl, reprojection_error=err, outliers=outl, keypoint_score=(min(inl * 100, 100) + max(0, 100 - err)) / 2,
                      inside=inside, scale_ratio=min(ratio, 1.5), segment=seg[f])
    m = lambda v, e: float(np.mean(v)) if len(v) else e
    kp = m([p["keypoint_score"] for p in per.values()], 0)
    # fovea measures lines on a sample of the frames (--line-frames); the validator on all.
    line = m([on_line[f] for f in per if f in on_line], 1) if per else 0
    inside = m([p["inside"] for p in per.values()], 0)
    scale = min(m([p["scale_ratio"] for p in per.values()], 0), 1)
    scale_valid = float(np.clip(len(per) / len(validate) / 0.4, 0, 1))
    st = m([stab[p["segment"]] for p in per.values()], 0)
    pl = m([plaus[p["segment"]] for p in per.values()], 0)
    cons = consistency(frames, validate)
    final = (0.25 * kp + 0.4 * line * 100 + 0.2 * inside * 100 + 0.05 * st * 100 + 0.1 * (pl * 100 + player) / 2) * cons * (scale + scale_valid) / 2
    return final, per, dict(keypoint_score=kp, inside=inside, stability=st, plausibility=pl, player_score=player, scale=scale,
                            scale_valid=scale_valid, consistency=cons)


def check_against_reference(got, frames, validate=None, tol=1e-6):
    """fovea's keypoint score equals the validator's computation: the same frames with a
    homography, the same inliers (OpenCV's RANSAC, written again in fovea), every part and the
    final score within `tol`."""
    k = got["keypoints"]
    on_line = {f["frame"]: f["on_line"] for f in k["per_frame"] if f["on_line"] is not None}
    validate = set(range(got["video_frames"])) if validate is None else set(validate)
    assert k["frames_to_validate"] == len(validate) and "1791fe1" in k["validator"] and k["homography"] == "opencv"
    final, per, parts = reference(frames, on_line, validate)
    mine = {f["frame"]: f for f in k["per_frame"]}
    assert sorted(mine) == sorted(per), "frames with a homography"
    for f, p in per.items():
        assert sorted(mine[f]["outliers"]) == p["outliers"], f
        assert mine[f]["inlier_ratio"] == pytest.approx(p["inlier_ratio"], abs=1e-12), f
        assert mine[f]["reprojection_error"] == pytest.approx(p["reprojection_error"], abs=tol), f
        assert mine[f]["inside"] == pytest.approx(p["inside"], abs=1e-12), f
        assert mine[f]["scale_ratio"] == pytest.approx(p["scale_ratio"], abs=1e-9), f
    for name, v in parts.items():
        assert k[name] == pytest.approx(v, abs=tol), name
    assert k["score"] == pytest.approx(final, abs=tol)
    return final


def test_exact_keypoints_score_as_the_validator_says(clip):
    video, sub, frames, _ = clip
    got = score(video, sub)
    final = check_against_reference(got, frames)
    k = got["keypoints"]
    assert k["with_homography"] == len(frames) and k["on_line"] > 0.95 and final > 90, k
    for f in k["per_frame"]:
        assert f["inlier_ratio"] == 1.0 and f["reprojection_error"] < 0.05, f


def perturbed(frames, rng, noise=0.0, drop=0.0, outliers=0):
    out = copy.deepcopy(frames)
    for fr in out.values():
        kp = np.array(fr["keypoints"], np.float64)
        given = np.where(~np.all(kp == 0, axis=1))[0]
        kp[given] += rng.normal(0, noise, (len(given), 2)) if noise else 0
        for i in rng.choice(given, size=outliers, replace=False) if outliers else []:
            kp[i] += rng.choice([-1, 1], 2) * rng.uniform(60, 120, 2)
        for i in given:
            if rng.random() < drop:
                kp[i] = 0
        kp = kp.clip(0, None)
        fr["keypoints"] = kp.round(2).tolist()
    return out


@pytest.mark.parametrize("noise,drop,outliers", [(2.0, 0.0, 0), (8.0, 0.0, 0), (0.0, 0.3, 0), (0.0, 0.0, 3), (1.0, 0.2, 2), (3.0, 0.0, 3)])
def test_noisy_missing_and_wrong_keypoints_score_as_the_validator_says(clip, tmp_path, noise, drop, outliers):
    video, _, frames, _ = clip
    rng = np.random.default_rng(int(noise * 10 + drop * 100 + outliers))
    bad = perturbed(frames, rng, noise, drop, outliers)
    sub = tmp_path / "kp.json"
    sub.write_text(json.dumps({"frames": bad}))
    got = score(video, sub)
    check_against_reference(got, bad)
    if outliers:
        assert all(f["inlier_ratio"] < 1 for f in got["keypoints"]["per_frame"] if f["valid"] >= 6)


def pitch_segments(frame):
    """The validator's detect_pitch_lines_tophat (its steps 1-7) in OpenCV: top-hat, grass mask,
    Gaussian, Canny, HoughLinesP, segments on grass, drawn and border-cleared, crowded ones out."""
    h, w = frame.shape[:2]
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    hsv = cv2.cvtColor(frame, cv2.COLOR_BGR2HSV)
    grass = cv2.inRange(hsv, (35, 40, 40), (85, 255, 255))
    grass = cv2.morphologyEx(grass, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    tophat = cv2.morphologyEx(gray, cv2.MORPH_TOPHAT, cv2.getStructuringElement(cv2.MORPH_RECT, (31, 31)))
    _, white = cv2.threshold(tophat, 30, 255, cv2.THRESH_BINARY)
    masked = cv2.bitwise_and(white, grass)
    edges = cv2.Canny(cv2.GaussianBlur(masked, (5, 5), 0), 30, 100)
    lines = cv2.HoughLinesP(edges, rho=1, theta=np.pi / 360, threshold=30, minLineLength=10, maxLineGap=15)
    mask = np.zeros_like(gray)
    kept = []
    for x1, y1, x2, y2 in ([] if lines is None else lines[:, 0]):
        ok = all(grass[int(y1 + (y2 - y1) * t), int(x1 + (x2 - x1) * t)] != 0 for t in np.linspace(0, 1, 30))
        if ok:
            cv2.line(mask, (int(x1), int(y1)), (int(x2), int(y2)), 255, 2)
            kept.append((x1, y1, x2, y2))
    b = 3
    mask[:b], mask[-b:], mask[:, :b], mask[:, -b:] = 0, 0, 0, 0
    final = [s for s in kept if 0 <= (s[0] + s[2]) // 2 < w and 0 <= (s[1] + s[3]) // 2 < h and mask[(s[1] + s[3]) // 2, (s[0] + s[2]) // 2] > 0]
    mids = [((x1 + x2) / 2, (y1 + y2) / 2) for x1, y1, x2, y2 in final]
    return [s for s, (mx, my) in zip(final, mids) if sum(abs(ux - mx) < 80 and abs(uy - my) < 80 for ux, uy in mids) <= 80]


def seg_dist(px, py, x1, y1, x2, y2):
    vx, vy, wx, wy = x2 - x1, y2 - y1, px - x1, py - y1
    t = max(0, min(1, (wx * vx + wy * vy) / float(vx * vx + vy * vy))) if (vx or vy) else 0
    return np.hypot(px - (x1 + t * vx), py - (y1 + t * vy))


def on_line(kps, segs, w, h):
    """The validator's line score of a frame: the logistic of the keypoints' mean normalised
    distance to the nearest segment."""
    pts, _ = valid(kps, (w, h))
    if len(pts) == 0:
        return 0.5
    if not segs:
        return 0.0
    ns = [(x1 / w, y1 / h, x2 / w, y2 / h) for x1, y1, x2, y2 in segs]
    d = np.mean([min(seg_dist(u / w, v / h, *s) for s in ns) for u, v in pts])
    return float(1 / (1 + np.exp((d - 0.02) / 0.0037)))


def test_line_segments_and_scores_are_the_validators(clip):
    """fovea finds exactly the segments OpenCV finds with the validator's steps (top-hat, Gaussian,
    Canny, HoughLinesP with its random order, the grass, border and crowd checks), and the same
    line score; keypoints moved 30 px right and down, off the lines, lose the line score."""
    video, sub, frames, _ = clip
    got = score(video, sub, "--line-frames", "6")
    measured = [f for f in got["keypoints"]["per_frame"] if f["on_line"] is not None]
    assert len(measured) == 6
    tmp = Path(video).parent
    for f in measured:
        img = cv2.imread(str(tmp / f"s{f['frame']:03d}.png"))
        segs = pitch_segments(img)
        assert len(segs) >= 4, "the painted pitch has lines"
        assert f.get("line_segments", []) == [[int(v) for v in s] for s in segs], f["frame"]
        want = on_line(frames[str(f["frame"])]["keypoints"], segs, W, H)
        assert f["on_line"] == pytest.approx(want, abs=1e-6), f  # keypoints read as f32
    off = copy.deepcopy(frames)
    for fr in off.values():
        fr["keypoints"] = [[x + 30, y + 30] if (x or y) else [0, 0] for x, y in fr["keypoints"]]
    p = Path(video).parent / "off.json"
    p.write_text(json.dumps({"frames": off}))
    assert score(video, p)["keypoints"]["on_line"] < 0.5 * got["keypoints"]["on_line"]


def test_line_segments_are_opencvs_on_real_frames(tmp_path):
    """The same on frames of real video (a street, an animation, a hall: few or no grass lines)
    through `fovea score` with a submission of keypoints on every frame."""
    found = {}
    # An odd size too (rows and planes not a multiple of any vector width).
    for clip, size in [("market_street_1906.mp4", (640, 360)), ("bigbuckbunny.mp4", None), ("vtest.avi", (641, 363))]:
        src = ROOT.parent / "shared" / "media" / clip
        video = tmp_path / (clip + ".mkv")
        vf = ["-vf", f"scale={size[0]}:{size[1]}"] if size else []
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-frames:v", "4", *vf, "-c:v", "ffv1", "-pix_fmt", "bgr0", str(video)], check=True)
        cap = cv2.VideoCapture(str(video))
        imgs = []
        while True:
            ok, img = cap.read()
            if not ok:
                break
            imgs.append(img)
        h, w = imgs[0].shape[:2]
        kps = [[w * (0.1 + 0.8 * (i % 8) / 7), h * (0.2 + 0.6 * (i // 8) / 3)] for i in range(32)]
        sub = tmp_path / (clip + ".json")
        objs = [{"id": 1, "bbox": [10, 200, 40, 280], "class_id": 2}]
        sub.write_text(json.dumps({"frames": {str(i): {"objects": objs, "keypoints": kps} for i in range(len(imgs))}}))
        got = score(video, sub, "--line-frames", str(len(imgs)))
        per = {f["frame"]: f for f in got["keypoints"]["per_frame"] if f["on_line"] is not None}
        assert per, f"{clip}: no frame's lines were measured"
        for i, f in per.items():
            segs = pitch_segments(imgs[i])
            assert f.get("line_segments", []) == [[int(v) for v in s] for s in segs], (clip, i)
            assert f["on_line"] == pytest.approx(on_line(kps, segs, w, h), abs=1e-6), (clip, i)
        found[clip] = sum(len(f.get("line_segments", [])) for f in per.values())
    assert found["bigbuckbunny.mp4"] > 100, found  # a dense frame: thousands of Hough segments before the checks


# ---- boxes ----------------------------------------------------------------------------------------

def test_a_perfect_submission_gets_the_maximum(clip):
    video, sub, frames, _ = clip
    got = score(video, sub, "--time", "2.5", "--fastest", "2.5")
    b = got["boxes"]
    assert b["score"] == 1.0 and b["upper_bound"] and b["unknown"] == sum(len(f["objects"]) for f in frames.values())
    assert b["dropped"] == {} and b["area_factor"] == 1.0
    assert got["speed"] == 1.0
    assert got["final_score"] == pytest.approx(0.65 * (0.5 + 0.5 * got["keypoints"]["score"] / 100) + 0.35)


def test_grass_boxes_score_negative(clip, tmp_path):
    """Boxes on bare grass called players: fovea's colour rules see grass, -1 each."""
    video, _, frames, _ = clip
    grass = {}
    for k, fr in frames.items():
        objs = [{"id": 500 + i, "bbox": [40 + 150 * i, 600, 70 + 150 * i, 660], "class_id": 2} for i in range(4)]
        grass[k] = {"objects": objs, "keypoints": fr["keypoints"]}
    sub = tmp_path / "grass.json"
    sub.write_text(json.dumps({"frames": grass}))
    got = score(video, sub, "--rules", str(ROOT / "filter/scorevision.toml"))
    assert got["boxes"]["raw"] < 0 and got["boxes"]["score"] == 0.0, got["boxes"]
    assert all(b["expected"] == "grass" for f in got["per_frame"] for b in f["details"])
    assert got["speed"] is None


def test_the_validators_rules_drop_what_it_drops(clip, tmp_path):
    """Small boxes and any box touching the top 150 px are dropped, later balls score -1; the
    summary names them. Points are the validator's arithmetic."""
    video, _, frames, _ = clip
    fr = copy.deepcopy(frames["0"])
    ball = next(o for o in fr["objects"] if o["class_id"] == 0)
    fr["objects"] += [
        {"id": 200, "bbox": [600, 140, 630, 200], "class_id": 2},           # touches the band
        {"id": 201, "bbox": [700, 400, 714, 460], "class_id": 2},           # 14 px wide
        {"id": 202, "bbox": [b + 30 for b in ball["bbox"]], "class_id": 0},  # a second ball
    ]
    sub = tmp_path / "rules.json"
    sub.write_text(json.dumps({"frames": {"0": fr}}))
    got = score(video, sub)
    assert got["boxes"]["dropped"] == {"top_band": 1, "min_size:width": 1}
    f = got["per_frame"][0]
    second = [b for b in f["details"] if b["index"] == len(fr["objects"]) - 1][0]
    assert second["expected"] == "not a football" and second["points"] == -1.0, second
    # Upper bound arithmetic: players 1 + 1/2 + ..., one goalkeeper, one referee, one ball, -1 x weight for the later ball.
    kinds = defaultdict(int)
    total = 0.0
    for o in fr["objects"][:-3] + fr["objects"][-1:]:
        e = {0: "football", 1: "goalkeeper", 2: "football player", 3: "referee"}[o["class_id"]]
        if o is fr["objects"][-1]:
            e = "not a football"
        total += (1 if e != "not a football" else -1) * 0.5 ** kinds[e]
        kinds[e] += 1
    assert f["score"] == pytest.approx(total / (len(kinds) + 1)), (f["score"], total, dict(kinds))


def test_boxes_partly_outside_the_frame_are_sized_as_given(clip, tmp_path):
    """Issue 30.7: the validator applies the 15 x 40 rule to the box as the miner gave it: a box
    20 px wide of which 10 lie left of the frame is kept (fovea used to clamp it first and drop
    it); one 20 px wide entirely inside stays kept, one 14 px wide inside is dropped; a box whose
    bottom edge is above the frame does not touch the top band."""
    video, _, frames, _ = clip
    fr = copy.deepcopy(frames["0"])
    n = len(fr["objects"])
    fr["objects"] += [
        {"id": 300, "bbox": [-10, 400, 10, 460], "class_id": 2},      # 20 px as given, 10 inside
        {"id": 301, "bbox": [W - 8, 400, W + 12, 460], "class_id": 2},  # the same at the right edge
        {"id": 302, "bbox": [700, 400, 714, 460], "class_id": 2},       # 14 px: dropped
    ]
    sub = tmp_path / "outside.json"
    sub.write_text(json.dumps({"frames": {"0": fr}}))
    got = score(video, sub)
    assert got["boxes"]["dropped"] == {"min_size:width": 1}, got["boxes"]["dropped"]
    notes = {b["index"]: b.get("note") for b in got["per_frame"][0]["details"]}
    assert not (notes.get(n) or "").startswith("dropped") and not (notes.get(n + 1) or "").startswith("dropped"), notes
    k = got["keypoints"]
    check_against_reference(got, {"0": fr})
    assert k["per_frame"][0]["inside"] is not None


def test_the_python_binding_scores_as_the_cli(clip):
    import fovea
    video, sub, _, _ = clip
    cli = score(video, sub, "--time", "4", "--fastest", "2", "--line-frames", "5")
    got = fovea.score(video, sub, time=4, fastest=2, line_frames=5)
    for k in ("final_score", "quality", "speed"):
        assert got[k] == cli[k], k
    assert got["keypoints"]["score"] == cli["keypoints"]["score"] and got["boxes"] == cli["boxes"]
    with pytest.raises(fovea.Error, match="time"):
        fovea.score(video, sub, time=-1)


def test_the_frame_list_reaches_the_python_binding_and_the_service(clip, tmp_path):
    """The validator's frame list on every face that scores: CLI --frames, Python frames=, a score
    job's "frames" (the Go binding's ScoreOptions.Frames is the same JSON field)."""
    import fovea
    from test_serve import Server
    from fovea.client import Client
    video, sub, _, _ = clip
    chosen = [1, 2, 3, 7]
    lst = tmp_path / "f.json"
    lst.write_text(json.dumps(chosen))
    cli = score(video, sub, "--frames", str(lst), "--line-frames", "3")
    got = fovea.score(video, sub, frames=chosen, line_frames=3)
    assert got["keypoints"] == cli["keypoints"] and got["keypoints"]["frames_to_validate"] == 4
    fovea_own = fovea.score(video, sub, frames=chosen, line_frames=3, homography="consensus")
    assert fovea_own["keypoints"]["homography"] == "consensus"
    assert fovea_own["keypoints"] == score(video, sub, "--frames", str(lst), "--line-frames", "3", "--homography", "consensus")["keypoints"]
    with pytest.raises(fovea.Error, match="homography"):
        fovea.score(video, sub, homography="magic")
    s = Server(video.parent)
    try:
        job = Client(s.url).score(video.name, sub.name, timeout=120, frames=chosen, line_frames=3)
        assert job["keypoints"] == cli["keypoints"]
    finally:
        s.stop()


# ---- duplicates and oversized boxes (fovea's broader rule set) -----------------------------------

def verify_kinds(video, sub, frames, rules, tmp):
    import crowd_clip  # noqa: F401  (the generator's module documents the planted kinds)
    out = tmp / "v.jsonl"
    o = subprocess.run([FOVEA, "verify", str(video), "--boxes", str(sub), "--rules", str(rules), "--no-roi-tensors", "-o", str(out)],
                       capture_output=True, text=True)
    assert o.returncode == 0, o.stderr
    obj = {(int(f), ob["id"]): ob for f, fr in frames.items() for ob in fr["objects"]}
    kept = {(r["frame"], r["id"]): r["verdict"] == "keep" for r in map(json.loads, out.read_text().splitlines())}
    copied = {(f, o["of"]) for (f, _), o in obj.items() if o["kind"] == "duplicate"}
    lone = [k for k, o in obj.items() if o["kind"] == "true" and k not in copied]
    pairs = [(k, (k[0], o["of"])) for k, o in obj.items() if o["kind"] == "duplicate"]
    over = [k for k, o in obj.items() if o["kind"] == "oversized"]
    return (sum(kept[k] for k in lone) / len(lone), sum(kept[a] != kept[b] for a, b in pairs) / len(pairs),
            sum(not kept[k] for k in over) / len(over))


def test_near_copies_and_boxes_around_groups_are_rejected_and_true_players_kept(tmp_path):
    """On a clip of players standing in groups (occlusions, a goal-mouth crowd) with planted near
    copies (IoU 0.6-0.9 with a true box) and a box around each group: the broader rule set leaves
    one box of each copied pair, rejects the group boxes, and keeps the true players; the old
    duplicate rule (IoU over 0.9 only) let nearly every copy through."""
    import crowd_clip
    video, sub, frames = crowd_clip.make(tmp_path)
    true_kept, pairs, oversized = verify_kinds(video, sub, frames, ROOT / "filter/scorevision.toml", tmp_path)
    print(f"true boxes kept {true_kept:.1%}, copied pairs left with one box {pairs:.1%}, group boxes rejected {oversized:.1%}")
    assert pairs >= 0.85 and oversized >= 0.85 and true_kept >= 0.9, (true_kept, pairs, oversized)
    old = tmp_path / "old.toml"
    text = (ROOT / "filter/scorevision.toml").read_text()
    text = text[:text.index("[rules.first_only]")] + "[rules.duplicate]\niou = 0.9\n"
    old.write_text(text)
    _, old_pairs, old_over = verify_kinds(video, sub, frames, old, tmp_path)
    assert old_pairs < 0.25 and old_over < oversized, (old_pairs, old_over)


def test_the_classifier_slot_decides_the_classes(clip):
    """With a classifier every kept box gets what the classifier says (the tiny test model: its
    labels mean nothing, but each box is decided and scored), and the score is no upper bound."""
    video, sub, frames, _ = clip
    got = score(video, sub, "--classifier", str(ROOT / "tests/data/tiny_clip.toml"), "--line-frames", "2")
    b = got["boxes"]
    assert b["unknown"] == 0 and not b["upper_bound"], b
    details = [d for f in got["per_frame"] for d in f["details"]]
    assert len(details) == sum(len(f["objects"]) for f in frames.values())
    assert all(d["expected"] is not None and d["points"] is not None for d in details)
    assert got["verify"]["classifier"]["name"] and got["verify"]["classifier"]["classified"] > 0, got["verify"]["classifier"]
    assert got["verify"]["boxes"]["boxes"] == len(details) and got["verify"]["model"] is None, got["verify"]


def write(tmp_path, name, frames):
    p = tmp_path / name
    p.write_text(json.dumps({"frames": frames}))
    return p


@pytest.mark.parametrize("seed", range(6))
def test_opencvs_homography_on_random_keypoint_files(clip, tmp_path, seed):
    """OpenCV's RANSAC written again in fovea against cv2.findHomography itself on random miner
    files: noise up to 12 px, up to 80% of the points missing, up to 5 outliers, every frame a
    different mix; the inliers equal and the final keypoint score within 1e-6."""
    video, _, frames, _ = clip
    rng = np.random.default_rng(1000 + seed)
    out = {}
    for k, v in frames.items():
        one = perturbed({k: v}, rng, noise=float(rng.uniform(0, 12)), drop=float(rng.uniform(0, 0.8)),
                        outliers=int(rng.integers(0, 6)) if sum(1 for p in v["keypoints"] if p != [0, 0]) > 8 else 0)
        out[k] = one[k]
    got = score(video, write(tmp_path, f"random{seed}.json", out), "--line-frames", "3")
    check_against_reference(got, out)


def test_four_points_with_three_collinear_get_the_validators_homography(clip, tmp_path):
    """OpenCV takes exactly 4 points to its DLT without the sample checks: 3 of them on one pitch
    line still give a homography (and a score), as the validator's."""
    video, _, frames, _ = clip
    out = {}
    for k, v in frames.items():
        kp = [[0, 0]] * 32
        given = [i for i, p in enumerate(v["keypoints"]) if p != [0, 0]]
        line = [i for i in given if i in (9, 10, 11, 12)][:3]   # the penalty box's front line
        other = [i for i in given if i not in (9, 10, 11, 12)][:1]
        for i in line + other:
            kp[i] = v["keypoints"][i]
        out[k] = dict(v, keypoints=kp)
    got = score(video, write(tmp_path, "collinear.json", out), "--line-frames", "3")
    assert got["keypoints"]["with_homography"] > 0
    check_against_reference(got, out)


def test_the_validators_keypoint_rules_of_1791fe1(clip, tmp_path):
    """Issue 30: all-zero keypoints score 0 (no homography anywhere); every other frame left out
    of the file, keypoints in 45% of the frames, pairs of points 10-20 px apart (the 25 px rule),
    frames without boxes: each equals the validator's computation written again here."""
    video, _, frames, _ = clip
    rng = np.random.default_rng(30)
    zeros = {k: dict(v, keypoints=[[0, 0]] * 32) for k, v in frames.items()}
    got = score(video, write(tmp_path, "zeros.json", zeros))
    assert got["keypoints"]["score"] == 0 and got["keypoints"]["with_homography"] == 0
    cases = {
        "every_other": {k: v for k, v in frames.items() if int(k) % 2 == 0},
        "some_frames": {k: (v if rng.random() < 0.45 else dict(v, keypoints=[[0, 0]] * 32)) for k, v in frames.items()},
        "no_boxes": {k: dict(v, objects=[]) for k, v in frames.items()},
    }
    close = copy.deepcopy(frames)
    for v in close.values():
        kp = np.array(v["keypoints"], np.float64)
        given = np.where(~np.all(kp == 0, axis=1))[0]
        for a, b in zip(given[::3], given[1::3]):  # a neighbour moved 10-20 px from it
            kp[b] = kp[a] + rng.choice([-1, 1], 2) * rng.uniform(7, 14, 2)
        v["keypoints"] = kp.clip(0, None).round(2).tolist()
    cases["close_pairs"] = close
    for name, fr in cases.items():
        got = score(video, write(tmp_path, name + ".json", fr), "--line-frames", "4")
        check_against_reference(got, fr)
        if name == "every_other":
            assert got["keypoints"]["consistency"] < 0.05, "a frame of the list missing from the file scores 0"
        if name == "close_pairs":
            assert any(f["crowded"] > 0 for f in got["keypoints"]["per_frame"])
        if name == "no_boxes":
            assert got["keypoints"]["lines_frames"] == 4, "lines are measured on frames without boxes too"


def test_the_validators_frame_list_is_scored_exactly(clip, tmp_path):
    """--frames FILE: only the frames the validator chose count (keypoints and boxes), and the
    score equals the validator's computation on them; a bad list is a clear error."""
    video, sub, frames, _ = clip
    chosen = sorted(int(k) for k in frames)[1::2][:5] + [len(frames) - 1]
    lst = tmp_path / "frames.json"
    lst.write_text(json.dumps(chosen))
    got = score(video, sub, "--frames", str(lst))
    assert got["keypoints"]["frames_to_validate"] == len(set(chosen))
    assert got["boxes"]["frames"] <= len(set(chosen))
    check_against_reference(got, frames, chosen)
    txt = tmp_path / "frames.txt"
    txt.write_text("\n".join(map(str, chosen)))
    assert score(video, sub, "--frames", str(txt))["keypoints"]["score"] == got["keypoints"]["score"]
    bad = tmp_path / "bad.txt"
    bad.write_text("1 2 three")
    o = subprocess.run([FOVEA, "score", str(video), "--boxes", str(sub), "--frames", str(bad)], capture_output=True, text=True)
    assert o.returncode != 0 and "item 3: expected a frame number, got 'three'" in o.stderr, o.stderr
