"""The words of the email layouts (header, footer, banners, buttons) in the six WHO languages.

Campaign bodies are written per language by the authors; these are the strings around them.
A test checks that every language has every key.
"""

from __future__ import annotations

from datetime import date, datetime

from gll_mail.languages import DEFAULT_LANGUAGE, language_tag

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "salutation_named": "Dear {name},",
        "salutation": "Dear Colleague,",
        "colleague": "Colleague",
        "view_online": "View this email in your browser",
        "unsubscribe": "Unsubscribe",
        "manage": "Manage your subscription",
        "manage_button": "Manage your subscription and learning pods",
        "why": "You receive this email because you subscribed to the mailing list of the WHO Global "
        "Learning Laboratory for Quality Universal Health Coverage.",
        "team": "The GLL Team",
        "gll": "WHO Global Learning Laboratory for Quality Universal Health Coverage",
        "tagline": "Sharing knowledge and experiences, challenging ideas and sparking innovation",
        "contact": "Contact",
        "corrigendum": "Corrigendum",
        "corrigendum_banner": "This corrigendum corrects the email “{subject}” sent on {date}.",
        "corrigendum_banner_undated": "This corrigendum corrects the email “{subject}”.",
        "corrigendum_prefix": "Corrigendum: ",
        "kind_announcement": "Announcement",
        "kind_report-release": "Report release",
        "kind_event": "Event",
        "kind_corrigendum": "Corrigendum",
        "test_marker": "[Test]",
    },
    "fr": {
        "salutation_named": "Bonjour {name},",
        "salutation": "Chère collègue, cher collègue,",
        "colleague": "collègue",
        "view_online": "Afficher ce message dans votre navigateur",
        "unsubscribe": "Se désabonner",
        "manage": "Gérer votre abonnement",
        "manage_button": "Gérer votre abonnement et vos groupes d’apprentissage",
        "why": "Vous recevez ce message parce que vous êtes abonné(e) à la liste de diffusion du "
        "Laboratoire mondial d’apprentissage de l’OMS pour une couverture sanitaire universelle de qualité.",
        "team": "L’équipe du GLL",
        "gll": "Laboratoire mondial d’apprentissage de l’OMS pour une couverture sanitaire universelle de qualité",
        "tagline": "Partager connaissances et expériences, remettre en question les idées et susciter l’innovation",
        "contact": "Contact",
        "corrigendum": "Rectificatif",
        "corrigendum_banner": "Ce rectificatif corrige le message « {subject} » envoyé le {date}.",
        "corrigendum_banner_undated": "Ce rectificatif corrige le message « {subject} ».",
        "corrigendum_prefix": "Rectificatif : ",
        "kind_announcement": "Annonce",
        "kind_report-release": "Publication de rapports",
        "kind_event": "Événement",
        "kind_corrigendum": "Rectificatif",
        "test_marker": "[Test]",
    },
    "es": {
        "salutation_named": "Estimado/a {name}:",
        "salutation": "Estimado/a colega:",
        "colleague": "colega",
        "view_online": "Ver este mensaje en el navegador",
        "unsubscribe": "Darse de baja",
        "manage": "Gestionar su suscripción",
        "manage_button": "Gestionar su suscripción y sus grupos de aprendizaje",
        "why": "Recibe este mensaje porque está suscrito/a a la lista de correo del Laboratorio Mundial de "
        "Aprendizaje de la OMS para la Cobertura Sanitaria Universal de Calidad.",
        "team": "El equipo del GLL",
        "gll": "Laboratorio Mundial de Aprendizaje de la OMS para la Cobertura Sanitaria Universal de Calidad",
        "tagline": "Compartir conocimientos y experiencias, cuestionar ideas e impulsar la innovación",
        "contact": "Contacto",
        "corrigendum": "Corrección",
        "corrigendum_banner": "Esta corrección se refiere al mensaje «{subject}» enviado el {date}.",
        "corrigendum_banner_undated": "Esta corrección se refiere al mensaje «{subject}».",
        "corrigendum_prefix": "Corrección: ",
        "kind_announcement": "Anuncio",
        "kind_report-release": "Publicación de informes",
        "kind_event": "Evento",
        "kind_corrigendum": "Corrección",
        "test_marker": "[Prueba]",
    },
    "ru": {
        "salutation_named": "Уважаемый(-ая) {name}!",
        "salutation": "Уважаемый(-ая) коллега!",
        "colleague": "коллега",
        "view_online": "Открыть это письмо в браузере",
        "unsubscribe": "Отписаться",
        "manage": "Управление подпиской",
        "manage_button": "Управление подпиской и учебными группами",
        "why": "Вы получили это письмо, потому что подписаны на рассылку Глобальной лаборатории ВОЗ по "
        "обучению в области качественного всеобщего охвата услугами здравоохранения.",
        "team": "Команда GLL",
        "gll": "Глобальная лаборатория ВОЗ по обучению в области качественного всеобщего охвата услугами "
        "здравоохранения",
        "tagline": "Обмен знаниями и опытом, переосмысление идей и стимулирование инноваций",
        "contact": "Контакты",
        "corrigendum": "Исправление",
        "corrigendum_banner": "Это исправление относится к письму «{subject}», отправленному {date}.",
        "corrigendum_banner_undated": "Это исправление относится к письму «{subject}».",
        "corrigendum_prefix": "Исправление: ",
        "kind_announcement": "Объявление",
        "kind_report-release": "Публикация докладов",
        "kind_event": "Мероприятие",
        "kind_corrigendum": "Исправление",
        "test_marker": "[Тест]",
    },
    "zh": {
        "salutation_named": "尊敬的{name}：",
        "salutation": "尊敬的同事：",
        "colleague": "同事",
        "view_online": "在浏览器中查看此邮件",
        "unsubscribe": "退订",
        "manage": "管理您的订阅",
        "manage_button": "管理您的订阅和学习小组",
        "why": "您收到此邮件，是因为您订阅了世卫组织优质全民健康覆盖全球学习实验室的邮件列表。",
        "team": "GLL团队",
        "gll": "世卫组织优质全民健康覆盖全球学习实验室",
        "tagline": "分享知识与经验，挑战既有观念，激发创新",
        "contact": "联系方式",
        "corrigendum": "更正",
        "corrigendum_banner": "本更正针对{date}发送的邮件“{subject}”。",
        "corrigendum_banner_undated": "本更正针对邮件“{subject}”。",
        "corrigendum_prefix": "更正：",
        "kind_announcement": "通知",
        "kind_report-release": "报告发布",
        "kind_event": "活动",
        "kind_corrigendum": "更正",
        "test_marker": "[测试]",
    },
    "ar": {
        "salutation_named": "عزيزي/عزيزتي {name}،",
        "salutation": "الزميل العزيز/الزميلة العزيزة،",
        "colleague": "الزميل",
        "view_online": "عرض هذه الرسالة في المتصفح",
        "unsubscribe": "إلغاء الاشتراك",
        "manage": "إدارة اشتراكك",
        "manage_button": "إدارة اشتراكك ومجموعات التعلّم",
        "why": "تصلك هذه الرسالة لأنك مشترك في القائمة البريدية لمختبر التعلّم العالمي التابع لمنظمة "
        "الصحة العالمية من أجل التغطية الصحية الشاملة الجيدة.",
        "team": "فريق مختبر التعلّم العالمي",
        "gll": "مختبر التعلّم العالمي التابع لمنظمة الصحة العالمية من أجل التغطية الصحية الشاملة الجيدة",
        "tagline": "تبادل المعارف والخبرات، ومساءلة الأفكار، وإطلاق الابتكار",
        "contact": "للتواصل",
        "corrigendum": "تصويب",
        "corrigendum_banner": "يصوّب هذا التصويب الرسالة «{subject}» المرسلة في {date}.",
        "corrigendum_banner_undated": "يصوّب هذا التصويب الرسالة «{subject}».",
        "corrigendum_prefix": "تصويب: ",
        "kind_announcement": "إعلان",
        "kind_report-release": "إصدار تقارير",
        "kind_event": "فعالية",
        "kind_corrigendum": "تصويب",
        "test_marker": "[تجربة]",
    },
}

_MONTHS = {
    "en": "January February March April May June July August September October November December",
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
    "es": "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre",
    "ru": "января февраля марта апреля мая июня июля августа сентября октября ноября декабря",
    "ar": "يناير فبراير مارس أبريل مايو يونيو يوليو أغسطس سبتمبر أكتوبر نوفمبر ديسمبر",
}
_DATE_FORMATS = {
    "en": "{d} {month} {y}",
    "fr": "{d} {month} {y}",
    "es": "{d} de {month} de {y}",
    "ru": "{d} {month} {y} г.",
    "ar": "{d} {month} {y}",
    "zh": "{y}年{m}月{d}日",
}

CORRIGENDUM_PREFIXES = tuple({s["corrigendum_prefix"].strip(" :：") for s in STRINGS.values()})


for _code, _strings in STRINGS.items():
    _strings["lang_tag"] = language_tag(_code)  # the layouts' lang attribute: zh-Hans, not zh


def strings_for(language: str) -> dict[str, str]:
    return STRINGS.get(language) or STRINGS[DEFAULT_LANGUAGE]


def format_date(value: date | datetime | None, language: str) -> str:
    """``18 June 2019``, ``18 juin 2019``, ``2019年6月18日`` …"""
    if value is None:
        return ""
    lang = language if language in _DATE_FORMATS else DEFAULT_LANGUAGE
    months = _MONTHS.get(lang, _MONTHS["en"]).split()
    return _DATE_FORMATS[lang].format(d=value.day, m=value.month, y=value.year, month=months[value.month - 1])


def has_corrigendum_prefix(subject: str) -> bool:
    head = subject.strip().lower()
    return any(head.startswith(prefix.lower()) for prefix in CORRIGENDUM_PREFIXES)
