"""User studies: the pack a tiny random model gives (files, balanced plan, a key that matches the
GIFs), the CLI, and the analysis of survey exports in several tools' layouts against numbers
computed by hand, plus the errors malformed exports get."""

import csv
import dataclasses
import json

import numpy as np
import pytest
from PIL import Image
from test_attfind_cli import records_path  # noqa: F401  (a module fixture: a records file on disk)

from stylex import user_study, visualize
from stylex.attfind.editor import Editor
from stylex.attfind.selection import SelectionOptions, select_from_records
from stylex.cli import main
from stylex.errors import StylexError

FRAMES = 4


@pytest.fixture(scope="module")
def explained(tiny_records):
    G, classifier, records = tiny_records
    return Editor(G, classifier, records), select_from_records(records, SelectionOptions(top_k=4, threshold=0.05))


@pytest.fixture(scope="module")
def pack(explained, tmp_path_factory):
    editor, selection = explained
    return user_study.write_study_pack(editor, selection, tmp_path_factory.mktemp("pack") / "tiny", questions=5,
                                       attributes=3, seed=1, frames=FRAMES, progress=False)


# -- building ---------------------------------------------------------------------------------


@pytest.mark.parametrize("k, n", [(2, 5), (3, 3), (4, 13), (6, 12), (5, 7)])
def test_plan_is_balanced_and_uses_four_images(k, n):
    rng = np.random.default_rng(0)
    orders = [rng.permutation(10) for _ in range(k)]
    for seed in range(5):
        plan = user_study.plan_classification(orders, n, np.random.default_rng(seed), pool=5)
        for field in ("attribute", "distractor"):
            counts = np.bincount([q[field] for q in plan], minlength=k)
            assert counts.max() - counts.min() <= 1 and counts.sum() == n
        assert [q["answer"] for q in plan].count("A") in (n // 2, (n + 1) // 2)
        for q in plan:
            rows = [*q["reference"], q["same"], q["other"]]
            assert len(set(rows)) == 4 and q["attribute"] != q["distractor"]
            assert set(rows[:3]) <= set(orders[q["attribute"]][:5])  # drawn from the attribute's strongest images
    if n > k > 2:  # the pairs vary: an attribute is not always contrasted with the same other one
        assert len({(q["attribute"], q["distractor"]) for q in plan}) > k


def test_plan_follows_the_seed():
    rng = np.random.default_rng(0)
    orders = [rng.permutation(10) for _ in range(4)]
    plan = user_study.plan_classification(orders, 13, np.random.default_rng(3), pool=5)
    # The seed fixes the plan; another seed gives another one.
    again = user_study.plan_classification(orders, 13, np.random.default_rng(3), pool=5)
    assert again == plan
    assert user_study.plan_classification(orders, 13, np.random.default_rng(4), pool=5) != plan
    verbal = user_study.plan_verbal(orders, np.random.default_rng(0), pool=6)
    assert [v["attribute"] for v in verbal] == [0, 1, 2, 3]
    assert all(len(set(v["images"])) == 4 and set(v["images"]) <= set(orders[v["attribute"]][:6]) for v in verbal)


def test_image_order_puts_strong_and_stable_images_first(explained):
    editor, _ = explained
    records = editor.records
    strength = np.abs(records.effect[:, :, 7, :]).max(axis=(1, 2))
    order = user_study.image_order(records, 7)
    assert list(strength[order]) == sorted(strength, reverse=True)
    assert user_study.image_order(records, 7, unstable=[int(order[0])])[-1] == order[0]


def test_pack_files_and_key(pack, explained):
    editor, selection = explained
    key, out = pack.key, pack.directory
    assert json.loads((out / "key.json").read_text()) == key
    chosen = user_study.study_attributes(selection, 3)
    assert [a["rank"] for a in key["attributes"]] == [a.rank for a in chosen]
    assert len({a["coordinate"] for a in key["attributes"]}) == len(chosen) >= 2
    classification = [q for q in key["questions"] if q["study"] == "classification"]
    verbal = [q for q in key["questions"] if q["study"] == "verbal"]
    assert len(classification) == 5 and len(verbal) == len(chosen)
    assert [q["number"] for q in key["questions"]] == list(range(1, 6 + len(chosen)))
    assert sorted(q["answer"] for q in classification).count("A") in (2, 3)
    for q in classification:
        right, wrong = q["candidates"][q["answer"]], q["candidates"]["B" if q["answer"] == "A" else "A"]
        assert right["attribute"] == q["attribute"] != wrong["attribute"] == q["distractor"]
        assert len({*q["reference_images"], right["image"], wrong["image"]}) == 4
        assert q["title"].startswith(q["id"] + ": ")
    for q in key["questions"]:
        gif = Image.open(out / q["file"])
        assert gif.n_frames == 2 * FRAMES - 2  # forward, then back
    info = (out / "info_of_images.txt").read_text()
    questions = (out / "survey_questions.txt").read_text()
    first = classification[0]
    assert f"{first['id']} (survey Q1, {first['file']}): same change in candidate {first['answer']}" in info
    assert first["title"] in questions and "same change in candidate" not in questions  # no answers leak


def _tile(frame: np.ndarray, index: int, width: int, left: int) -> np.ndarray:
    """Candidate `index` (0: A, 1: B) of a classification frame; `left` is where A starts."""
    x = left + index * (width + visualize.GAP)
    return frame[:width, x : x + width].astype(float)


def test_key_names_the_candidate_that_shows_the_attribute(pack, explained):
    """Re-render what the key says each candidate shows and find it in the GIF."""
    import imageio.v3 as iio

    editor, _ = explained
    scale = visualize.display_scale(16)
    width = 16 * scale
    left = 2 * width + visualize.GAP + 3 * visualize.GAP + visualize.GAP + 3 * visualize.GAP
    coordinate = {a["rank"]: a["coordinate"] for a in pack.key["attributes"]}
    for q in (q for q in pack.key["questions"] if q["study"] == "classification"):
        frame = iio.imread(pack.directory / q["file"], index=FRAMES - 1)[..., :3]  # the sweep's far end
        for c, candidate in q["candidates"].items():
            sweep = visualize.sweep_images(editor, coordinate[candidate["attribute"]], [candidate["image"]], FRAMES)
            expected = np.asarray(visualize.to_pil(sweep[-1, 0], scale)).astype(float)
            errors = [np.abs(_tile(frame, i, width, left) - expected).mean() for i in range(2)]
            assert int(np.argmin(errors)) == "AB".index(c) and min(errors) < 6  # GIF palette error only


def test_pack_refuses_to_overwrite_and_needs_two_attributes(pack, explained, tmp_path):
    editor, selection = explained
    with pytest.raises(StylexError, match="already holds a study pack"):
        user_study.write_study_pack(editor, selection, pack.directory, frames=2, progress=False)
    one = dataclasses.replace(selection, attributes=selection.attributes[:1])
    with pytest.raises(StylexError, match="needs at least 2"):
        user_study.write_study_pack(editor, one, tmp_path / "one", frames=2, progress=False)
    with pytest.raises(StylexError, match="plain folder name"):
        user_study.build_study_pack("records.h5", name="../up")


def test_cli_build_then_analyze(records_path, tmp_path, monkeypatch, capsys):  # noqa: F811
    monkeypatch.chdir(tmp_path)
    args = ["user-study", "build", "--records", str(records_path), "--name", "demo", "--questions", "4",
            "--attributes", "2", "--frames", "3", "--device", "cpu", "--no-progress"]
    assert main(args) == 0
    out = tmp_path / "all_user_studies" / "demo"
    key = json.loads((out / "key.json").read_text())
    assert key["name"] == "demo" and len(key["questions"]) == 6
    assert (out / "classification" / "class_04.gif").is_file() and (out / "verbal" / "verbal_02.gif").is_file()
    assert main(args) == 2 and "--overwrite" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0
    answers = tmp_path / "answers.csv"
    rows = [["Timestamp"] + [f"Q{q['number']}" for q in key["questions"]],
            ["2024-01-01"] + [q.get("answer", "smile") for q in key["questions"]]]
    with open(answers, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    capsys.readouterr()
    assert main(["user-study", "analyze", "--key", str(out), "--answers", str(answers)]) == 0
    printed = capsys.readouterr().out
    assert "1 respondents; ignored columns: Timestamp" in printed
    result = json.loads((tmp_path / "answers_analysis.json").read_text())
    assert result["studies"]["classification"]["accuracy"] == {"mean": 1.0, "std": None, "respondents": 1}
    assert Image.open(tmp_path / "answers_analysis.png").size[0] > 100


# -- analysis ---------------------------------------------------------------------------------


def small_key():
    """Four classification questions (two per attribute) and one verbal question per attribute."""
    questions = [dict(id=f"class_0{i}", number=i, study="classification", attribute=1 + (i > 2),
                      answer="AB"[(i - 1) % 2]) for i in range(1, 5)]
    questions += [dict(id=f"verbal_0{i}", number=4 + i, study="verbal", attribute=i) for i in (1, 2)]
    return {"format": user_study.KEY_FORMAT, "version": user_study.KEY_VERSION, "name": "small",
            "attributes": [{"rank": 1, "name": "b8.conv1[3]"}, {"rank": 2, "name": "b16.conv0[9]"}],
            "questions": questions}


# Three respondents' answers to class_01..04 (key A, B, A, B) and verbal_01..02.
ANSWERS = [["A", "B", "A", "B", "Smile", "Eyebrows"],
           ["A", "A", "B", "B", "bigger smile", "eyebrow shape"],
           ["B", "B", "A", "", "eyes", ""]]
TITLE = "The two animations on the left show the same kind of change. Which one on the right, A or B?"


def generic(path):
    """A wide CSV (written with semicolons, as European Excel does) with titles holding commas and
    an answer spanning two lines."""
    header = ["Timestamp"] + [f"class_0{i}: {user_study.CLASSIFICATION_PROMPT}" for i in range(1, 5)] + \
        ["verbal_01", "verbal_02"]
    answers = [list(a) for a in ANSWERS]
    answers[1][4] = "bigger\nsmile"
    return [header] + [[f"2024-05-0{i + 1}"] + a for i, a in enumerate(answers)]


def qualtrics(path):
    """Qualtrics: Q<number> columns, a question-text row and an ImportId row, choices exported as numbers."""
    header = ["StartDate", "ResponseId", "Q1", "Q2", "Q3", "Q4", "Q5", "Q6", "Q_RecaptchaScore", "Q7_1"]
    texts = ["Start Date", "Response ID"] + [f"class_0{i}: {TITLE}" for i in range(1, 5)] + \
        ["verbal_01: Describe", "verbal_02: Describe", "Q_RecaptchaScore", "extra"]
    ids = ['{"ImportId":"startDate"}', '{"ImportId":"_recordId"}'] + [f'{{"ImportId":"QID{i}"}}' for i in range(8)]
    numeric = [[{"A": "1", "B": "2"}.get(v, v) for v in a[:4]] + a[4:] for a in ANSWERS]
    return [header, texts, ids] + [["2024-05-01", f"R_{i}"] + a + ["1", ""] for i, a in enumerate(numeric)]


def google_forms(path):
    """Google Forms: full question titles as headers, choice texts as answers."""
    header = ["Timestamp"] + [f"class_0{i}: {TITLE}" for i in range(1, 5)] + \
        ["verbal_01: Describe the change in 1-4 words", "verbal_02: Describe the change in 1-4 words"]
    return [header] + [["5/1/2024 10:00:00"] + [f"Option {v}" if v else "" for v in a[:4]] + a[4:]
                       for a in ANSWERS]


def surveymonkey(path):
    """SurveyMonkey: titles with the id, a second header row of "Response", left/right answers."""
    header = ["Respondent ID", "Collector ID"] + [f"{TITLE} (class_0{i})" for i in range(1, 5)] + \
        ["Describe it (verbal_01)", "Describe it (verbal_02)"]
    second = ["", ""] + ["Response"] * 4 + ["Open-Ended Response"] * 2
    words = {"A": "left", "B": "right", "": ""}
    return [header, second] + [[str(100 + i), "1"] + [words[v] for v in a[:4]] + a[4:]
                               for i, a in enumerate(ANSWERS)]


def write_csv(path, rows, delimiter=","):
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f, delimiter=delimiter).writerows(rows)
    return path


@pytest.mark.parametrize("layout", [generic, qualtrics, google_forms, surveymonkey])
def test_analysis_matches_hand_computed_numbers(layout, tmp_path):
    key = small_key()
    path = write_csv(tmp_path / "export.csv", layout(tmp_path), delimiter=";" if layout is generic else ",")
    result = user_study.analyze_answers(key, user_study.read_answers(path, key))
    assert result["respondents"] == 3
    c = result["studies"]["classification"]
    # Per respondent: 4/4, 2/4, 2/3 (one blank); attribute 1 (class_01-02): 1, 1/2, 1/2; attribute 2: 1, 1/2, 1.
    assert c["accuracy"]["mean"] == pytest.approx((1 + 0.5 + 2 / 3) / 3)
    assert c["accuracy"]["std"] == pytest.approx(np.std([1, 0.5, 2 / 3], ddof=1))
    assert c["accuracy"]["std"] == pytest.approx(0.254588, abs=1e-6)
    assert c["unanswered"] == 1 and c["questions"] == 4
    a1, a2 = c["per_attribute"]
    assert (a1["attribute"], a1["name"], a1["accuracy"]["mean"]) == (1, "b8.conv1[3]", pytest.approx(2 / 3))
    assert a1["accuracy"]["std"] == pytest.approx(0.288675, abs=1e-6)
    assert a2["accuracy"]["mean"] == pytest.approx(5 / 6) and a2["accuracy"]["std"] == pytest.approx(0.288675, 1e-5)
    assert [q["accuracy"] for q in c["per_question"]] == pytest.approx([2 / 3, 2 / 3, 2 / 3, 1.0])
    v = result["studies"]["verbal"]
    # Consensus words "smile" (2 of 3) and "eyebrow" (2 of 2); per respondent agreement 1, 1, 0.
    assert [q["consensus"] for q in v["per_question"]] == ["smile", "eyebrow"]
    assert v["agreement"]["mean"] == pytest.approx(2 / 3)
    assert v["agreement"]["std"] == pytest.approx(np.sqrt(1 / 3))
    assert [a["agreement"]["mean"] for a in v["per_attribute"]] == pytest.approx([2 / 3, 1.0])


def test_analyze_study_writes_json_and_plot(tmp_path):
    (tmp_path / "key.json").write_text(json.dumps(small_key()))
    answers = write_csv(tmp_path / "export.csv", generic(tmp_path))
    result = user_study.analyze_study(tmp_path, answers, json_out=tmp_path / "out" / "analysis.json")
    saved = json.loads((tmp_path / "out" / "analysis.json").read_text())
    assert saved["studies"]["classification"]["accuracy"] == result["studies"]["classification"]["accuracy"]
    assert saved["ignored_columns"] == ["Timestamp"]
    assert Image.open(tmp_path / "out" / "analysis.png").format == "PNG"


def test_only_one_study_answered(tmp_path):
    key = small_key()
    rows = [["class_01", "class_02", "class_03", "class_04"], ["A", "B", "B", "B"]]
    result = user_study.analyze_answers(key, user_study.read_answers(write_csv(tmp_path / "c.csv", rows), key))
    assert list(result["studies"]) == ["classification"]
    assert result["studies"]["classification"]["accuracy"]["mean"] == 0.75


@pytest.mark.parametrize("rows, message", [
    ([["class_01", "class_02", "class_04"], ["A", "B", "A"]], r"bad\.csv has no column for question\(s\) class_03"),
    ([["Timestamp", "class_01", "class_02", "class_03", "class_04"], ["x", "A", "C", "A", "B"]],
     r"bad\.csv, column 'class_02' \(question class_02\), respondent 1: answer 'C'"),
    ([["Timestamp", "Name"], ["x", "y"]], r"bad\.csv has no column for any question"),
    ([["Q1", "class_01: title"], ["A", "A"]], r"columns 'Q1' and 'class_01: title' both hold question class_01"),
    ([["class_01 or class_02"], ["A"]], r"names several questions"),
    ([["class_01", "class_02", "class_03", "class_04"]], r"bad\.csv has no responses"),
])
def test_malformed_exports_raise_clearly(rows, message, tmp_path):
    key = small_key()
    path = write_csv(tmp_path / "bad.csv", rows)
    with pytest.raises(StylexError, match=message):
        user_study.analyze_answers(key, user_study.read_answers(path, key))


def test_unreadable_inputs(tmp_path):
    with pytest.raises(StylexError, match="does not exist"):
        user_study.read_answers(tmp_path / "none.csv", small_key())
    (tmp_path / "latin.csv").write_bytes("class_01\nd\xe9j\xe0\n".encode("latin-1"))
    with pytest.raises(StylexError, match="not UTF-8"):
        user_study.read_answers(tmp_path / "latin.csv", small_key())
    (tmp_path / "key.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(StylexError, match="not a stylex user-study answer key"):
        user_study.load_key(tmp_path)


def test_answer_parsing():
    for value, choice in [("A", "A"), (" b ", "B"), ("Left", "A"), ("right", "B"), ("1", "A"), ("2", "B"),
                          ("Option 2", "B"), ("Animation A (left)", "A"), ("", None)]:
        assert user_study.choice_of(value) == choice
    for value in ("C", "A or B", "A (right)", "3"):
        with pytest.raises(ValueError):
            user_study.choice_of(value)
    assert user_study.answer_words("The eyes get bigger, more Shadows") == {"eye", "bigger", "shadow"}
    key = small_key()
    of = [user_study.question_of_column(h, key) for h in
          ("class_03", "Q5", "Q1. class_02: title", "Q7", "Q1_1", "Q_RecaptchaScore", "Timestamp", "class_010")]
    assert of == ["class_03", "verbal_01", "class_02", None, None, None, None, None]
