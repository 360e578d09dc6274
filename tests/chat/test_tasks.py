"""Supervisors define bounded student tasks in chat, list them, edit, copy and withdraw them."""

from __future__ import annotations

import pytest

from storage import repository
from storage.models import Supervisor, Task, TaskStatus
from tests.helpers import stored


async def register(chat, *, kind: str = "Research", field: str = "Epidemiology") -> None:
    """A quick registration through the chat (verify later, no phone)."""
    await chat.command("start")
    await chat.press("I agree")
    await chat.press(kind)
    await chat.press("Researcher" if kind == "Research" else "Senior consultant")
    await chat.send("Oslo University Hospital")
    await chat.press("Oslo")
    await chat.press(field)
    await chat.send(f"{chat.user.first_name.lower()}@ous-hf.no")
    await chat.press("Verify later")
    await chat.press("Confirm")


async def _tasks(services, chat) -> list[Task]:
    from storage.tasks import tasks_of

    async with services.db.session() as session:
        supervisor = await repository.get_supervisor(session, chat.user.id)
        assert isinstance(supervisor, Supervisor)
        return await tasks_of(session, supervisor.id or 0)


async def define_research_task(chat) -> int:
    """The whole research task flow; returns the number of answers it took."""
    answers = 0

    async def press(label: str) -> None:
        nonlocal answers
        answers += 1
        await chat.press(label)

    async def send(text: str) -> None:
        nonlocal answers
        answers += 1
        await chat.send(text)

    await send("/newtask")
    assert "What is the research project called?" in chat.last().text
    await send("Antibiotic use after hip surgery")
    await send("A registry study of antibiotic use after hip fracture surgery in Oslo, 2015-2024.")
    await press("Chart review")  # the city is the profile's: not asked
    await press("Data analysis")
    await press("Done")
    await press("Abstract")
    await press("Poster")
    await press("Done")
    assert "Extract data from patient records" in " ".join(chat.last().button_texts)
    await press("Extract data from patient records")
    await press("Run and interpret a basic statistical analysis")
    await press("Done")
    await press("8 weeks")
    # The season is the first one open (2026/27 on 24 November 2026): only its open months.
    await press("Mar 27")
    await press("Feb 27")
    await press("Done")
    assert "patient data" in chat.last().text  # asked only because of chart review
    await press("Approved")
    await press("Yes")
    # One student at a time, English enough, no prerequisites: defaults on the summary.
    assert "Students at a time: 1" in chat.last().text and "English is enough" in chat.last().text
    await press("Backup contact")  # an optional line on the summary
    await send("Dr. Lise Berg, postdoc in the group")
    assert "Your task:" in chat.last().text
    await press("Submit for approval")
    return answers


async def test_right_after_registration_a_researcher_defines_and_submits_a_task(john, services):
    await register(john)
    assert "define a task for a student now" in john.last().text
    answers = await define_research_task(john)
    assert "sent to the exchange coordinators" in john.last().text
    [task] = await _tasks(services, john)
    assert task.status == TaskStatus.SUBMITTED and task.season == 2026
    assert (task.exchange_type, task.field, task.city, task.weeks, task.capacity) == (
        "research",
        "epidemiology",
        "oslo",
        8,
        1,
    )
    assert task.activities == ["chart_review", "analysis"] and task.products == [
        "abstract",
        "poster",
    ]
    assert task.learning_goals == ["@charts", "@analysis"]
    assert task.months == ["2027-02", "2027-03"]  # in calendar order
    assert task.ethics_status == "approved" and task.confidentiality is True and task.patient_data
    assert task.backup_contact == "Dr. Lise Berg, postdoc in the group"
    assert task.site == "Oslo University Hospital"
    conv, _ = await stored(services, john.user.id)
    assert conv is None
    assert answers <= 26


async def test_a_clinical_task_skips_research_questions_and_is_four_weeks(kari, services):
    await kari.command("start")
    await kari.press("Jeg samtykker")
    await kari.press("Klinisk")
    await kari.press("Overlege")
    await kari.send("Haukeland universitetssjukehus")
    await kari.press("Bergen")
    await kari.press("Hjertesykdommer")
    await kari.send("kari@helse-bergen.no")
    await kari.press("Bekreft senere")
    await kari.press("Bekreft")
    await kari.press("Beskriv en oppgave nå")
    assert "Hvilken avdeling" in kari.last().text
    await kari.send("Hjerteavdelingen, post 2")
    await kari.press("Visitter")  # the city is the profile's (Bergen): not asked
    await kari.press("Poliklinikk")
    await kari.press("Ferdig")
    await kari.press("Hele dager")
    await kari.press("Ta opp en strukturert anamnese")
    await kari.press("Ferdig")
    await kari.press("feb 27")  # no "4 or 8 weeks" question for a clinical task
    await kari.press("Ferdig")
    assert "Oppgaven din:" in kari.last().text  # no ethics questions without patient data
    # Capacity, language, prerequisites and backup are lines on the summary, edited there.
    await kari.press("Studenter om gangen")
    await kari.press("2")
    await kari.press("Språk")
    await kari.press("Norsk kreves")
    await kari.press("Forkunnskaper")
    await kari.send("Grunnleggende EKG-tolkning")
    await kari.press("Reservekontakt")
    await kari.send("Overlege Per Hansen")
    await kari.press("Send til godkjenning")
    [task] = await _tasks(services, kari)
    assert (task.exchange_type, task.weeks, task.title, task.capacity, task.english_ok) == (
        "clinical",
        4,
        "Hjerteavdelingen, post 2",
        2,
        False,
    )
    assert task.daily_hours == "full" and task.ethics_status is None and not task.patient_data
    assert (task.skills, task.backup_contact) == (
        "Grunnleggende EKG-tolkning",
        "Overlege Per Hansen",
    )
    assert task.city == "bergen" and task.season == 2026 and task.months == ["2027-02"]


async def test_bad_input_in_the_task_flow_gets_the_steps_reprompt(john, services):
    await register(john)
    await john.command("newtask")
    await john.send("x")  # too short for a title
    assert "too short" in john.last().text and "research project called" in john.last().text
    await john.send_sticker()
    assert "type the project's title" in john.last().text
    conv, _ = await stored(services, john.user.id)
    assert conv is not None and conv.step == "title" and "title" not in conv.data


async def test_at_most_three_goals_and_at_least_one(john, services):
    await register(john)
    await john.command("newtask")
    await john.send("Project X")
    await john.send("Twenty characters or more of description here.")
    await john.press("Literature search")
    await john.press("Done")
    await john.press("Talk")
    await john.press("Done")
    await john.press("Done")  # no goal yet
    assert "at least one" in john.fake.calls_to("answerCallbackQuery")[-1].params.get("text", "")
    await john.press("Write my own")
    await john.send("Write a one-page summary of the evidence")
    for label in ("Plan and run", "Present the work"):
        await john.press(label)
    await john.press("Explain the project")  # a fourth goal is refused
    conv, _ = await stored(services, john.user.id)
    assert conv is not None
    assert conv.data["learning_goals"] == [
        "Write a one-page summary of the evidence",
        "@search",
        "@present",
    ]


async def test_stopping_midway_and_coming_back_continues_the_task(john, services):
    await register(john)
    await john.command("newtask")
    await john.send("Project X")
    await john.command("cancel")
    assert "/newtask to continue" in john.last().text
    await john.command("newtask")
    assert "Describe the project" in john.last().text


async def test_tasks_lists_status_and_a_task_can_be_withdrawn(john, services):
    await register(john)
    await define_research_task(john)
    await john.command("tasks")
    assert (
        "Antibiotic use after hip surgery" in john.last().text
        and "awaiting approval" in john.last().text
    )
    await john.press("Antibiotic use")
    assert "Chart review" in john.last().text
    await john.press("Withdraw")
    await john.press("Yes, withdraw")
    assert "withdrawn" in john.last().text
    [task] = await _tasks(services, john)
    assert task.status == TaskStatus.WITHDRAWN


async def test_a_task_copied_to_the_next_season_keeps_its_answers(john, services):
    await register(john)
    await define_research_task(john)
    await john.command("tasks")
    await john.press("Antibiotic use")
    await john.press("Copy to next season")
    assert "2027/28" in john.last().text and "Feb 28" in john.last().text
    await john.press("Submit for approval")
    first, second = sorted(await _tasks(services, john), key=lambda t: t.season)
    assert (first.season, second.season) == (2026, 2027)
    assert second.months == ["2028-02", "2028-03"] and second.title == first.title


async def test_editing_a_task_sends_it_for_approval_again(john, services):
    await register(john)
    await define_research_task(john)
    [task] = await _tasks(services, john)
    async with services.db.session() as session:
        stored_task = await session.get(Task, task.id)
        stored_task.status = TaskStatus.APPROVED
    await john.command("tasks")
    await john.press("Antibiotic use")
    await john.press("Edit")
    await john.press("Students at a time")
    await john.press("2")
    assert "Your task:" in john.last().text  # back on the summary after one field
    await john.press("Submit for approval")
    [task] = await _tasks(services, john)
    assert task.capacity == 2 and task.status == TaskStatus.SUBMITTED


@pytest.mark.parametrize("command", ["newtask", "tasks"])
async def test_someone_not_registered_is_asked_to_register_first(john, command):
    await john.command(command)
    assert "register first" in john.last().text


async def test_an_old_profile_button_cannot_disturb_a_task_being_defined(john, services):
    await register(john)
    await john.command("start")
    await john.press("Edit a field")
    await john.press("City")
    old_city_question = john.last()
    await john.command("newtask")
    await john.send("Project X")
    await john.send("A description of twenty characters or more.")
    assert "What will the student do?" in john.last().text  # the city is the profile's
    bergen = old_city_question.callback_data[old_city_question.button_texts.index("Bergen")]
    await john.press_data(bergen, old_city_question)
    conv, _ = await stored(services, john.user.id)
    assert conv is not None and conv.flow == "task" and conv.step == "acts"
    assert conv.data["city"] == "oslo"
    await john.press("Literature search")
    await john.press("Done")
    assert "What will the student produce?" in john.last().text


async def test_start_in_the_middle_of_a_task_keeps_the_draft(john, services):
    await register(john)
    await john.command("newtask")
    await john.send("Project X")
    await john.command("start")
    await john.command("newtask")
    assert "Describe the project" in john.last().text
