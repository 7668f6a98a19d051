"""The customer pages' words (the AI answer's links, the survey) in the ticket's language: English,
Spanish and French, as the flows' e-mails are; English for any other language. The backend serves
these pages, so their words live with the mock, not with the flows' catalogs."""

from __future__ import annotations

from html import escape

TEXT = {
    "en": {
        "not_found": "Link not found",
        "not_found_body": "This link is not valid. Please check the link in your e-mail.",
        "thanks": "Thank you",
        "already_solved": "You already told us that the answer solved ticket #{id}.",
        "already_help": "You already asked for help with ticket #{id}: an agent has it.",
        "nothing": "Nothing to do",
        "moved_resolved": "Ticket #{id} is resolved; this link no longer changes it.",
        "moved_team": "Ticket #{id} is already with our team; this link no longer changes it.",
        "solved_title": "Did the answer solve your problem?",
        "ticket_line": "Ticket #{id} ({subject})",
        "solved_button": "Yes, this solved my problem",
        "glad": "Glad it helped. Ticket #{id} will be closed.",
        "help_title": "We are sorry the answer did not help",
        "help_intro": "Tell us what is still not working on ticket #{id} ({subject}); an agent will answer.",
        "help_label": "What do you still need?",
        "help_button": "Send to an agent",
        "help_empty": "Please tell us what you still need.",
        "too_long": "Please keep it under {limit} characters.",
        "help_sent": "An agent will get back to you on ticket #{id}.",
        "survey_not_found": "Survey not found",
        "survey_not_found_body": "This survey link is not valid. Please check the link in your e-mail.",
        "survey_title": "How did we do?",
        "survey_intro": "How did we do on ticket #{id} ({subject})?",
        "survey_legend": "Your rating (1 = very poor, 5 = excellent)",
        "survey_comment": "Anything you want to tell us (optional)",
        "send": "Send",
        "already_rated": "You already rated ticket #{id}: {rating} of 5.",
        "choose_rating": "Please choose a rating from 1 to 5.",
        "comment_too_long": "Please keep the comment under {limit} characters.",
        "not_taken": "We could not take your rating",
        "rated": "Thank you for rating ticket #{id}. Your feedback has been passed on.",
    },
    "es": {
        "not_found": "Enlace no encontrado",
        "not_found_body": "Este enlace no es válido. Compruebe el enlace de su correo.",
        "thanks": "Gracias",
        "already_solved": "Ya nos dijo que la respuesta resolvió el ticket n.º {id}.",
        "already_help": "Ya pidió ayuda con el ticket n.º {id}: lo tiene un agente.",
        "nothing": "No hay nada que hacer",
        "moved_resolved": "El ticket n.º {id} está resuelto; este enlace ya no lo cambia.",
        "moved_team": "El ticket n.º {id} ya está con nuestro equipo; este enlace ya no lo cambia.",
        "solved_title": "¿Resolvió la respuesta su problema?",
        "ticket_line": "Ticket n.º {id} ({subject})",
        "solved_button": "Sí, esto resolvió mi problema",
        "glad": "Nos alegra haberle ayudado. El ticket n.º {id} se cerrará.",
        "help_title": "Lamentamos que la respuesta no le haya ayudado",
        "help_intro": "Cuéntenos qué sigue sin funcionar en el ticket n.º {id} ({subject}); le responderá un agente.",
        "help_label": "¿Qué necesita todavía?",
        "help_button": "Enviar a un agente",
        "help_empty": "Cuéntenos qué necesita todavía.",
        "too_long": "No supere los {limit} caracteres.",
        "help_sent": "Un agente le responderá sobre el ticket n.º {id}.",
        "survey_not_found": "Encuesta no encontrada",
        "survey_not_found_body": "Este enlace de encuesta no es válido. Compruebe el enlace de su correo.",
        "survey_title": "¿Qué tal le atendimos?",
        "survey_intro": "¿Qué tal le atendimos con el ticket n.º {id} ({subject})?",
        "survey_legend": "Su valoración (1 = muy mala, 5 = excelente)",
        "survey_comment": "¿Algo que quiera contarnos? (opcional)",
        "send": "Enviar",
        "already_rated": "Ya valoró el ticket n.º {id}: {rating} de 5.",
        "choose_rating": "Elija una valoración del 1 al 5.",
        "comment_too_long": "El comentario no debe superar los {limit} caracteres.",
        "not_taken": "No pudimos registrar su valoración",
        "rated": "Gracias por valorar el ticket n.º {id}. Hemos transmitido su opinión.",
    },
    "fr": {
        "not_found": "Lien introuvable",
        "not_found_body": "Ce lien n'est pas valide. Vérifiez le lien de votre e-mail.",
        "thanks": "Merci",
        "already_solved": "Vous nous avez déjà indiqué que la réponse a résolu le ticket n° {id}.",
        "already_help": "Vous avez déjà demandé de l'aide pour le ticket n° {id} : un agent s'en occupe.",
        "nothing": "Rien à faire",
        "moved_resolved": "Le ticket n° {id} est résolu ; ce lien ne le modifie plus.",
        "moved_team": "Le ticket n° {id} est déjà entre les mains de notre équipe ; ce lien ne le modifie plus.",
        "solved_title": "La réponse a-t-elle résolu votre problème ?",
        "ticket_line": "Ticket n° {id} ({subject})",
        "solved_button": "Oui, cela a résolu mon problème",
        "glad": "Ravis d'avoir pu vous aider. Le ticket n° {id} sera clôturé.",
        "help_title": "Nous sommes désolés que la réponse ne vous ait pas aidé",
        "help_intro": "Dites-nous ce qui ne fonctionne toujours pas pour le ticket n° {id} ({subject}) ; un agent vous répondra.",
        "help_label": "De quoi avez-vous encore besoin ?",
        "help_button": "Envoyer à un agent",
        "help_empty": "Dites-nous de quoi vous avez encore besoin.",
        "too_long": "Merci de ne pas dépasser {limit} caractères.",
        "help_sent": "Un agent reviendra vers vous au sujet du ticket n° {id}.",
        "survey_not_found": "Enquête introuvable",
        "survey_not_found_body": "Ce lien d'enquête n'est pas valide. Vérifiez le lien de votre e-mail.",
        "survey_title": "Qu'avez-vous pensé de notre aide ?",
        "survey_intro": "Comment avons-nous traité le ticket n° {id} ({subject}) ?",
        "survey_legend": "Votre note (1 = très mauvais, 5 = excellent)",
        "survey_comment": "Quelque chose à nous dire ? (facultatif)",
        "send": "Envoyer",
        "already_rated": "Vous avez déjà noté le ticket n° {id} : {rating} sur 5.",
        "choose_rating": "Choisissez une note de 1 à 5.",
        "comment_too_long": "Merci de ne pas dépasser {limit} caractères dans le commentaire.",
        "not_taken": "Nous n'avons pas pu enregistrer votre note",
        "rated": "Merci d'avoir noté le ticket n° {id}. Votre avis a été transmis.",
    },
}


def language(row) -> str:
    """The page's language: the ticket's, when the pages have it; English otherwise."""
    try:
        wanted = (row["language"] or "en").lower() if row is not None else "en"
    except (IndexError, KeyError):
        wanted = "en"
    return wanted if wanted in TEXT else "en"


def text(lang: str, key: str, **values: object) -> str:
    """The words, with ``values`` escaped (a subject is the customer's)."""
    return TEXT[lang][key].format(**{k: escape(str(v)) for k, v in values.items()})
