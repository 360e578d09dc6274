"""The task question engine, as a pure function: any sequence of presses and texts keeps the
draft valid (never more than three goals, months within the season, a step that exists)."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.chat.engine import screens
from bot.chat.flows.task import starts
from bot.chat.flows.task import steps as ts
from bot.core.i18n import Translator
from bot.domain.season import first_open_month

TR = Translator("en")
FORM = ts.FORM
ACTIONS = ["pick", "toggle", "done", "other", "skip", "keep", "back", "edit", "submit"]


def _start(types: list[str]) -> dict:
    context = ts.Context(
        offered_types=types,
        offered_fields=["epidemiology", "oncology"],
        city="oslo",
        seasons=[2026, 2027],
    )
    return context.initial_data()


def _values(step: ts.TStep, data: dict) -> list[str]:
    codes = [o.code for o in FORM.options(FORM[step], data, TR)]
    return [*codes, "bogus", "", *[s.value for s in ts.TStep]]


@settings(max_examples=200, deadline=None)
@given(
    types=st.sampled_from([["clinical"], ["research"], ["clinical", "research"]]), data=st.data()
)
def test_any_sequence_of_answers_keeps_the_draft_valid(types, data):
    draft = _start(types)
    step = FORM.first(draft)
    for _ in range(data.draw(st.integers(1, 60))):
        if data.draw(st.booleans()):
            action = data.draw(st.sampled_from(ACTIONS))
            value = data.draw(st.sampled_from(_values(step, draft)))
            applied = FORM.apply_button(step, draft, action, value, TR)
        else:
            applied = FORM.apply_text(step, draft, data.draw(st.text(max_size=80)), TR)
        if applied.finished:
            assert FORM.missing(draft) is None
            break
        step = applied.step
        assert step in FORM.by_id
        assert len(draft.get("learning_goals", [])) <= ts.MAX_GOALS
        if draft.get("season"):
            assert set(draft.get("months", [])) <= set(ts.season_months(int(draft["season"])))
        screen = screens.screen(FORM, step, draft, TR)
        assert all(len(b.callback.body()) < 50 for row in screen.buttons for b in row.__iter__())


def test_a_clinical_task_never_asks_research_questions():
    draft = _start(["clinical"])
    asked = [s for s in FORM.by_id if FORM[s].when(draft)]
    assert (
        ts.TStep.WEEKS not in asked
        and ts.TStep.PRODUCTS not in asked
        and ts.TStep.TITLE not in asked
    )
    assert draft["weeks"] == 4


def test_ethics_is_asked_only_for_patient_data():
    draft = _start(["research"])
    assert not FORM[ts.TStep.ETHICS].when(draft)
    draft["activities"] = ["literature"]
    assert not FORM[ts.TStep.ETHICS].when(draft)
    draft["activities"] = ["chart_review"]
    assert FORM[ts.TStep.ETHICS].when(draft)


def test_seasons_offered_are_the_current_and_the_next():
    from datetime import date

    assert ts.seasons_open(date(2026, 11, 24)) == [2026, 2027]
    assert ts.seasons_open(date(2027, 2, 1)) == [2027, 2028]  # too little of 2026/27 is left
    assert ts.seasons_open(date(2027, 4, 1)) == [2027, 2028]


def test_every_default_is_an_answer_its_row_would_accept():
    """A default is not a back door: a choice's default is one of its options, a typed one
    passes its parse (or is the "skip" of an optional row)."""
    for types in (["clinical"], ["research"]):
        draft = ts.Context(
            types, ["oncology"], "oslo", [2026, 2027], None, "2027-02"
        ).initial_data()
        FORM.settle_defaults(draft)
        for q in FORM.questions:
            if q.default is None or not q.main:
                continue
            value = draft[q.key]
            if q.kind == ts.Kind.CHOICE:
                codes = {o.code for o in FORM.options(q, draft, TR)}
                assert (q.code(value) if q.code else str(value)) in codes, q.id
            else:
                assert value is None and q.optional, q.id
    assert first_open_month(date(2026, 11, 30)) == "2027-02"  # Dec and Jan are too close


def test_the_total_is_fixed_once_the_branching_answers_are_given():
    draft = _start(["clinical", "research"])
    assert not FORM.path_known(draft)
    FORM.apply_button(ts.TStep.TYPE, draft, "pick", "research", TR)
    draft["title"], draft["description"] = "T", "D" * 20
    assert not FORM.path_known(draft)  # the task kinds decide whether ethics is asked
    draft["activities"] = ["chart_review"]
    assert FORM.path_known(draft)
    totals = {FORM.progress(s, draft)[1] for s in FORM.mains if FORM.asks(s, draft)}
    assert totals == {
        11
    }  # type, field, title, desc, kinds, products, goals, weeks, months, 2 x ethics


def test_every_template_value_is_an_answer_its_row_would_accept():
    """A template fills every answer but the names, each one of the options its question
    offers, so only the names are asked (with a fixed total) and the summary edits the rest."""
    for template in starts.TEMPLATES:
        draft = ts.Context(
            ["clinical", "research"], ["oncology"], "oslo", [2026, 2027], None, "2027-02"
        ).initial_data()
        FORM.settle_defaults(draft)
        starts.apply_template(draft, template)
        FORM.settle_defaults(draft)
        for q in FORM.questions:
            if not q.main or not q.when(draft) or q.key not in draft.get(starts.GIVEN, []):
                continue
            codes = {o.code for o in FORM.options(q, draft, TR)}
            value = draft[q.key]
            chosen = value if isinstance(value, list) else [q.code(value) if q.code else value]
            assert {str(v) for v in chosen} <= codes, (template.code, q.id)
        asked = [s for s in FORM.mains if FORM.asks(s, draft)]
        names = ["title", "desc"] if template.exchange_type == "research" else ["dept"]
        assert asked == names and FORM.path_known(draft), template.code
        assert FORM.missing(draft) == names[0]


def test_a_copy_moves_the_months_to_the_season_and_drops_those_past():
    draft = _start(["research"])
    FORM.settle_defaults(draft)
    draft["first_month"] = "2027-02"
    earlier = {"season": 2025, "months": ["2026-01", "2026-03"], "title": "Old", "weeks": 8}
    starts.apply_copy(draft, earlier)
    assert (draft["season"], draft["months"], draft["weeks"]) == (2026, ["2027-03"], 8)
    assert "title" not in draft and "weeks" in draft[starts.GIVEN]
