"""What defining a task costs a supervisor, counted through the real application (issue 9): the
typical research task in at most 10 answers, a clinical one in at most 8, the entry tap and the
submit included. What the bot already knows is not asked; the summary shows the defaults."""

from __future__ import annotations

import re

from storage.models import TaskStatus
from tests.chat.test_tasks import _tasks, define_research_task, register
from tests.support import effort


def _totals(chat, mark: int) -> set[str]:
    """Every "question N of M" total shown since `mark` (a message answered in place shows
    several questions)."""
    marker = re.compile(r"(?:question|spørsmål) \d+ (?:of|av) (\d+)")
    return {total for m in chat.since(mark) for total in marker.findall(m.text)}


async def test_a_typical_research_task_takes_at_most_ten_answers(john, services):
    await register(john)
    mark = john.mark()
    async with effort.measure(john, "Research task, typical path", 10):
        await john.press("Define a task now")
        await john.send("Antibiotic use after hip surgery")
        await john.send("A registry study of antibiotic use after hip fracture surgery.")
        await john.press("Literature search")
        await john.press("Done")
        await john.press("Use these")  # the product suggested for a literature search
        assert "Plan and run a structured literature search" in john.last().text
        await john.press("Use these goals")
        await john.press("4 weeks")
        await john.press("Any month")
        summary = john.last().text
        assert "Students at a time: 1" in summary and "English is enough" in summary
        assert "Season: 2026/27" in summary and "Backup contact: —" in summary
        await john.press("Submit for approval")
    assert len(_totals(john, mark)) == 1  # the total never changes on the way
    [task] = await _tasks(services, john)
    assert task.status == TaskStatus.SUBMITTED and task.city == "oslo"
    assert (task.products, task.learning_goals) == (["report"], ["@search", "@present", "@method"])
    assert (task.season, task.months, task.capacity, task.english_ok) == (
        2026,
        ["2027-02", "2027-03"],
        1,
        True,
    )


async def test_a_typical_clinical_task_takes_at_most_eight_answers(john, services):
    await register(john, kind="Clinical", field="Cardiology")
    mark = john.mark()
    async with effort.measure(john, "Clinical task, typical path", 8):
        await john.press("Define a task now")
        await john.send("Cardiology ward, post 2")
        await john.press("Ward rounds")
        await john.press("Done")
        await john.press("Full days")
        await john.press("Use these goals")
        await john.press("Any month")
        await john.press("Submit for approval")
    assert len(_totals(john, mark)) == 1
    [task] = await _tasks(services, john)
    assert (task.exchange_type, task.weeks, task.capacity, task.backup_contact) == (
        "clinical",
        4,
        1,
        "",
    )


async def test_months_offer_only_open_months_in_calendar_order(john, services):
    """On 24 November 2026 the months of 2026/27 before February are past or too close to
    confirm a student; months chosen out of order come back sorted, also after an edit."""
    await register(john)
    await john.press("Define a task now")
    await john.send("Project X")
    await john.send("Twenty characters or more of description here.")
    await john.press("Literature search")
    await john.press("Done")
    await john.press("Use these")
    await john.press("Use these goals")
    await john.press("4 weeks")
    offered = john.last().button_texts
    assert "Feb 27" in offered and "Mar 27" in offered
    assert not any(m in offered for m in ("Apr 26", "Nov 26", "Dec 26", "Jan 27"))
    await john.press("Mar 27")
    await john.press("Feb 27")
    await john.press("Done")
    assert "Months: Feb 27, Mar 27" in john.last().text
    await john.press("Season")
    await john.press("2027/28")
    await john.press("Submit for approval")  # the months of the new season are still missing
    await john.press("Autumn")
    await john.press("Submit for approval")
    [task] = await _tasks(services, john)
    assert (task.season, task.months) == (2027, ["2027-09", "2027-10", "2027-11"])


async def test_a_research_task_from_a_template_takes_at_most_five_answers(john, services):
    """A template fills everything but the title and description, each value one of the options
    its question offers; the summary edits them like typed answers."""
    await register(john)
    mark = john.mark()
    async with effort.measure(john, "Research task from a template", 5):
        await john.press("Define a task now")
        assert "Template: chart review" in " ".join(john.last().button_texts)
        await john.press("Template: chart review")
        assert "What is the research project called?" in john.last().text
        await john.send("Readmissions after heart failure")
        await john.send("A chart review of readmissions after heart failure in an existing study.")
        summary = john.last().text
        assert "Chart review" in summary and "Abstract" in summary and "Approved" in summary
        await john.press("Submit for approval")
    assert len(_totals(john, mark)) == 1
    [task] = await _tasks(services, john)
    assert task.status == TaskStatus.SUBMITTED and task.title == "Readmissions after heart failure"
    assert (task.activities, task.products, task.weeks, task.season) == (
        ["chart_review"],
        ["abstract"],
        4,
        2026,
    )
    assert task.learning_goals == ["@charts", "@present", "@method"]
    assert task.months == ["2027-02", "2027-03"]  # every month still open
    assert (task.ethics_status, task.confidentiality, task.capacity) == ("approved", True, 1)


async def test_a_clinical_task_from_a_template_asks_only_the_department(john, services):
    await register(john, kind="Clinical", field="Cardiology")
    await john.press("Define a task now")
    await john.press("Template: ward and clinic")
    await john.send("Cardiology ward, post 2")
    await john.press("Submit for approval")
    [task] = await _tasks(services, john)
    assert (task.title, task.activities, task.daily_hours, task.weeks) == (
        "Cardiology ward, post 2",
        ["ward_rounds", "outpatient"],
        "full",
        4,
    )


async def _last_season(services, john) -> None:
    """The task john defined, moved back to the season before the first open one."""
    [task] = await _tasks(services, john)
    async with services.db.session() as session:
        stored_task = await session.get(type(task), task.id)
        assert stored_task is not None
        stored_task.season = 2025
        stored_task.months = ["2026-02", "2026-03"]
        stored_task.status = TaskStatus.ARCHIVED
        session.add(stored_task)


async def test_a_task_copied_from_last_season_takes_at_most_five_answers(john, services):
    await register(john)
    await define_research_task(john)
    await _last_season(services, john)
    mark = john.mark()
    async with effort.measure(john, "Task copied from last season", 5):
        await john.command("newtask")
        await john.press("Copy “Antibiotic use after hip surgery” (2025/26)")
        await john.send("Antibiotic use after knee surgery")
        await john.send("A registry study of antibiotic use after knee replacement in Oslo.")
        assert "Backup contact: Dr. Lise Berg" in john.last().text
        await john.press("Submit for approval")
    assert len(_totals(john, mark)) <= 1
    old, new = sorted(await _tasks(services, john), key=lambda t: t.season)
    assert (new.season, new.status, new.title) == (
        2026,
        TaskStatus.SUBMITTED,
        "Antibiotic use after knee surgery",
    )
    assert new.months == ["2027-02", "2027-03"]  # the same months, a year later
    assert (new.activities, new.products, new.learning_goals, new.weeks) == (
        old.activities,
        old.products,
        old.learning_goals,
        old.weeks,
    )
    assert (new.ethics_status, new.confidentiality) == (old.ethics_status, old.confidentiality)


async def test_no_copy_is_offered_without_a_task_from_an_earlier_season(john, services):
    await register(john)
    await define_research_task(john)  # this season's: nothing to copy
    await john.command("newtask")
    assert not any("Copy" in b for b in john.last().button_texts)
    assert any("Template" in b for b in john.last().button_texts)
