"""English for the IFMSA exchange portal: a supervisor writing in Norwegian is offered an English
title and description as optional lines on the task's summary (no extra answer on the typical
path); one writing in English is not asked."""

from __future__ import annotations

from storage import repository
from storage.models import Supervisor, Task
from storage.tasks import tasks_of
from tests.chat.test_tasks import register


async def _tasks(services, chat) -> list[Task]:
    async with services.db.session() as session:
        supervisor = await repository.get_supervisor(session, chat.user.id)
        assert isinstance(supervisor, Supervisor)
        return await tasks_of(session, supervisor.id or 0)


async def _register_in_norwegian(kari) -> None:
    await kari.command("start")
    await kari.press("Jeg samtykker")
    await kari.press("Forskning")
    await kari.press("Forsker")
    await kari.send("Haukeland universitetssjukehus")
    await kari.press("Bergen")
    await kari.press("Epidemiologi")
    await kari.send("kari@helse-bergen.no")
    await kari.press("Bekreft senere")
    await kari.press("Bekreft")


async def _to_summary_nb(kari) -> None:
    await kari.press("Beskriv en oppgave nå")
    await kari.send("Søvn og delirium på sykehjem")
    await kari.send(
        "En kohortstudie av søvn og delirium hos eldre på sykehjem i Bergen, 2020-2025."
    )
    await kari.press("Litteratursøk")
    await kari.press("Ferdig")
    await kari.press("Bruk disse")
    await kari.press("Bruk disse målene")
    await kari.press("4 uker")
    await kari.press("feb 27")
    await kari.press("Ferdig")
    assert "Oppgaven din:" in kari.last().text


async def test_a_norwegian_supervisor_adds_english_on_the_summary(kari, services):
    await _register_in_norwegian(kari)
    await _to_summary_nb(kari)
    summary = kari.last()
    assert "Engelsk tittel" in summary.text and "Engelsk beskrivelse" in summary.text
    assert {"Engelsk tittel", "Engelsk beskrivelse"} <= set(summary.button_texts)
    await kari.press("Engelsk tittel")
    assert "IFMSAs utvekslingsportal" in kari.last().text
    assert "⏭ Hopp over" in kari.last().button_texts  # optional
    await kari.send("Sleep and delirium in nursing homes")
    await kari.press("Engelsk beskrivelse")
    await kari.send("x")  # too short
    assert "minst 20 tegn" in kari.last().text or "for kort" in kari.last().text
    await kari.send("A cohort study of sleep and delirium among nursing-home residents in Bergen.")
    assert "Sleep and delirium in nursing homes" in kari.last().text
    await kari.press("Send til godkjenning")
    [task] = await _tasks(services, kari)
    assert task.title == "Søvn og delirium på sykehjem"
    assert task.title_en == "Sleep and delirium in nursing homes"
    assert task.description_en is not None and task.description_en.startswith("A cohort study")


async def test_without_english_a_norwegian_task_is_submitted_as_before(kari, services):
    await _register_in_norwegian(kari)
    await _to_summary_nb(kari)
    await kari.press("Send til godkjenning")
    [task] = await _tasks(services, kari)
    assert task.title_en is None and task.description_en is None


async def test_a_supervisor_writing_in_english_is_not_asked(john, services):
    await register(john)
    await john.press("Define a task now")
    await john.send("Antibiotic use after hip surgery")
    await john.send("A registry study of antibiotic use after hip fracture surgery in Oslo.")
    await john.press("Literature search")
    await john.press("Done")
    await john.press("Use these")
    await john.press("Use these goals")
    await john.press("4 weeks")
    await john.press("Feb 27")
    await john.press("Done")
    assert "Your task:" in john.last().text
    assert "English title" not in john.last().text
    assert "English title" not in john.last().button_texts
