"""Deterministic reading of customer messages, for what must not depend on a model's judgement:
explicit confirmations, requests for a person, sensitive topics and off-topic requests.

Texts are compared without accents, case or punctuation.
"""

from __future__ import annotations

import enum
import re
import unicodedata


def normalize(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(re.sub(r"[^a-z0-9$ ]+", " ", plain).split())


# Whole-message answers only: "sim, mas troca para 20 caixas" is not a confirmation.
_YES = {
    "sim",
    "s",
    "confirmo",
    "confirmar",
    "confirmado",
    "confirma",
    "pode confirmar",
    "sim confirmo",
    "sim pode confirmar",
    "sim pode mandar",
    "pode mandar",
    "pode fechar",
    "pode fazer",
    "pode fazer o pedido",
    "fechado",
    "fechar pedido",
    "ok pode mandar",
    "ok pode confirmar",
    "sim por favor",
    "isso mesmo",
    "isso",
}
_NO = {
    "nao",
    "n",
    "cancela",
    "cancelar",
    "nao quero",
    "nao confirmo",
    "nao obrigado",
    "deixa",
    "deixa pra la",
    "esquece",
}


class Answer(enum.Enum):
    YES = "yes"
    NO = "no"
    OTHER = "other"


def yes_or_no(text: str) -> Answer:
    normalized = normalize(text)
    if normalized in _YES:
        return Answer.YES
    if normalized in _NO:
        return Answer.NO
    return Answer.OTHER


_PERSON = (
    r"\b(falar|conversar|atendimento|transfer\w*|passa\w*|chama\w*|quero|preciso( de)?)\b.{0,25}"
    r"\b(atendente|humano|humana|pessoa|alguem|vendedor|vendedora|representante|gerente|"
    r"operador|operadora|consultor|consultora)\b"
)
_PERSON_PATTERN = re.compile(_PERSON)

_SENSITIVE = re.compile(
    r"\b(reclama\w*|procon|reclame aqui|advogad\w*|process(ar|o judicial)|justica|denuncia\w*|"
    r"anvisa|absurdo|vergonha|golpe|fraude|"
    r"receita controlada|medicamentos? controlados?|controlad[oa]s?|tarja preta|portaria 344|"
    r"psicotropic\w*|entorpecente\w*|receita (azul|amarela|especial)|notificacao de receita|"
    r"retencao de receita|sngpc)\b"
)

_OFF_TOPIC = re.compile(
    r"\b(escrev\w+|faz\w*|crie|cria|compo\w+|gere|gera)\b.{0,20}\b(poema|poesia|redacao|historia|"
    r"conto|musica|letra|piada|texto sobre|artigo)\b|"
    r"\b(conte|conta|me conta) (uma )?piada\b|"
    r"\breceita de (bolo|pao|torta|biscoito|doce|lasanha|pizza|comida|frango|carne)\b|"
    r"\b(quem ganhou|resultado do jogo|placar|campeonato|brasileirao|copa do mundo)\b|"
    r"\b(previsao do tempo|horoscopo|signo)\b|"
    r"\b(traduz\w*|traducao)\b|"
    r"\b(codigo|programa|script) (em|de|no|na)? ?(python|java|javascript|excel|sql)\b|"
    # Politics, not "política de troca": elections, parties and politicians by context.
    r"\b(eleic\w+|partido politico|politica (partidaria|brasileira|nacional|do governo)|"
    r"em quem (votar|voto|vou votar))\b|"
    r"\b(dever de casa|licao de casa|minha prova|meu trabalho da escola|tcc)\b|"
    r"\bqual (e |eh )?a capital d[aeo] \w+"
)


# "qual o horário de atendimento humano?" asks about opening hours, not for a person now.
_ABOUT_HOURS = re.compile(r"\b(horario|horarios|que horas|funciona ate|abre|fecha)\b")


def asks_for_person(text: str) -> bool:
    normalized = normalize(text)
    return bool(_PERSON_PATTERN.search(normalized)) and not _ABOUT_HOURS.search(normalized)


def sensitive_topic(text: str) -> bool:
    """Complaints and controlled-prescription questions go to a person, not the model."""
    return bool(_SENSITIVE.search(normalize(text)))


def off_topic(text: str) -> bool:
    """Clear general-assistant requests (poems, sports, homework...); the model's own
    instructions cover the subtler cases."""
    return bool(_OFF_TOPIC.search(normalize(text)))
