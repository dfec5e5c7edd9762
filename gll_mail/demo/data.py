"""The GLL's own catalog (pods, topics, resources) and generated demo members, for `gll-mail demo`.

Seeding is idempotent: running it twice adds nothing the second time.
"""

from __future__ import annotations

import random
from pathlib import Path

from sqlmodel import Session, select

from gll_mail.models import (
    Pod,
    PodMembership,
    Resource,
    Subscriber,
    Subscription,
    Topic,
    utcnow,
)

DEMO_DOMAIN = "members.gll-demo.org"

PODS = [
    ("compassion", "Compassion", "The heart of quality health services: compassion in care."),
    ("nqps", "National Quality Policy and Strategy", "Driving quality across all levels of the health system."),
    ("ipc", "Infection Prevention and Control", "IPC as a foundation of quality care."),
    ("wash", "Water, Sanitation and Hygiene", "WASH in health care facilities."),
    ("mch", "Maternal and child health", "Quality of care for mothers, newborns and children."),
]

TOPICS = [
    ("announcements", "GLL announcements", "Report releases, calls and news from the GLL."),
    ("webinars", "Webinars and events", "Invitations to GLL webinars and learning events."),
]

# The catalog's names in the five languages beside English (slug → language → (name, description));
# resources: slug → language → title.
TRANSLATIONS: dict[str, dict[str, tuple[str, str]]] = {
    "compassion": {
        "fr": ("Compassion", "Le cœur de services de santé de qualité : la compassion dans les soins."),
        "es": ("Compasión", "El corazón de los servicios de salud de calidad: la compasión en la atención."),
        "ar": ("التعاطف", "جوهر الخدمات الصحية الجيدة: التعاطف في الرعاية."),
        "zh": ("关怀", "优质卫生服务的核心：医疗中的关怀。"),
        "ru": ("Сострадание", "Основа качественных услуг здравоохранения: сострадание в оказании помощи."),
    },
    "nqps": {
        "fr": (
            "Politique et stratégie nationales de qualité",
            "Promouvoir la qualité à tous les niveaux du système de santé.",
        ),
        "es": (
            "Política y estrategia nacional de calidad",
            "Impulsar la calidad en todos los niveles del sistema de salud.",
        ),
        "ar": ("السياسة والاستراتيجية الوطنية للجودة", "تعزيز الجودة على جميع مستويات النظام الصحي."),
        "zh": ("国家质量政策与战略", "在卫生系统各级推动质量。"),
        "ru": (
            "Национальная политика и стратегия в области качества",
            "Повышение качества на всех уровнях системы здравоохранения.",
        ),
    },
    "ipc": {
        "fr": ("Prévention et contrôle des infections", "La PCI, fondement de soins de qualité."),
        "es": ("Prevención y control de infecciones", "La PCI como base de una atención de calidad."),
        "ar": ("الوقاية من العدوى ومكافحتها", "الوقاية من العدوى ومكافحتها أساس الرعاية الجيدة."),
        "zh": ("感染预防与控制", "感染预防与控制是优质医疗的基础。"),
        "ru": ("Профилактика инфекций и инфекционный контроль", "ПИИК как основа качественной медицинской помощи."),
    },
    "wash": {
        "fr": ("Eau, assainissement et hygiène", "EAH dans les établissements de santé."),
        "es": ("Agua, saneamiento e higiene", "WASH en los establecimientos de salud."),
        "ar": ("المياه والصرف الصحي والنظافة الصحية", "المياه والصرف الصحي والنظافة الصحية في مرافق الرعاية الصحية."),
        "zh": ("水、环境卫生和个人卫生", "卫生保健机构中的水、环境卫生和个人卫生。"),
        "ru": ("Водоснабжение, санитария и гигиена", "ВСГ в медицинских учреждениях."),
    },
    "mch": {
        "fr": ("Santé maternelle et infantile", "La qualité des soins pour les mères, les nouveau-nés et les enfants."),
        "es": ("Salud maternoinfantil", "Calidad de la atención para madres, recién nacidos y niños."),
        "ar": ("صحة الأم والطفل", "جودة الرعاية للأمهات والمواليد والأطفال."),
        "zh": ("妇幼健康", "母亲、新生儿和儿童的医疗质量。"),
        "ru": ("Охрана здоровья матери и ребёнка", "Качество помощи матерям, новорождённым и детям."),
    },
    "announcements": {
        "fr": ("Annonces du GLL", "Publications de rapports, appels et actualités du GLL."),
        "es": ("Anuncios del GLL", "Publicación de informes, convocatorias y noticias del GLL."),
        "ar": ("إعلانات المختبر العالمي للتعلّم", "إصدار التقارير والدعوات وأخبار المختبر العالمي للتعلّم."),
        "zh": ("全球学习实验室公告", "全球学习实验室的报告发布、征集和新闻。"),
        "ru": ("Объявления ГЛЛ", "Выпуск докладов, призывы и новости ГЛЛ."),
    },
    "webinars": {
        "fr": ("Webinaires et événements", "Invitations aux webinaires et événements d’apprentissage du GLL."),
        "es": ("Seminarios web y eventos", "Invitaciones a los seminarios web y eventos de aprendizaje del GLL."),
        "ar": (
            "الندوات عبر الإنترنت والفعاليات",
            "دعوات إلى ندوات المختبر العالمي للتعلّم عبر الإنترنت وفعالياته التعليمية.",
        ),
        "zh": ("网络研讨会和活动", "全球学习实验室网络研讨会和学习活动的邀请。"),
        "ru": ("Вебинары и мероприятия", "Приглашения на вебинары и учебные мероприятия ГЛЛ."),
    },
}
TITLES: dict[str, dict[str, str]] = {
    "codevelopment-synthesis-report": {
        "fr": "Rapport de synthèse de l’appel à la co-construction du GLL",
        "es": "Informe de síntesis de la convocatoria de co-desarrollo del GLL",
        "ar": "التقرير التجميعي لدعوة المختبر العالمي للتعلّم إلى التطوير المشترك",
        "zh": "全球学习实验室共同开发征集综合报告",
        "ru": "Сводный доклад по призыву ГЛЛ к совместной разработке",
    },
    "compassion-scoping-report": {
        "fr": "Rapport exploratoire sur la compassion et la qualité des soins",
        "es": "Informe exploratorio sobre la compasión y la calidad de la atención",
        "ar": "تقرير استطلاعي عن التعاطف وجودة الرعاية",
        "zh": "关于关怀与医疗质量的范围界定报告",
        "ru": "Обзорный доклад о сострадании и качестве медицинской помощи",
    },
    "compassion-tools": {
        "fr": "Compassion : outils et ressources",
        "es": "Compasión: herramientas y recursos",
        "ar": "التعاطف: أدوات وموارد",
        "zh": "关怀：工具和资源",
        "ru": "Сострадание: инструменты и ресурсы",
    },
}

RESOURCES = [
    # slug, title, access, file name (served from the resources folder)
    (
        "codevelopment-synthesis-report",
        "GLL co-development call synthesis report",
        "registered",
        "gll-codevelopment-synthesis-report.html",
    ),
    (
        "compassion-scoping-report",
        "Scoping report on compassion and quality of care",
        "pod:compassion",
        "compassion-scoping-report.html",
    ),
    ("compassion-tools", "Compassion: tools and resources", "pod:compassion", "compassion-tools-and-resources.html"),
]

_FIRST = [
    "Amina",
    "Wei",
    "Olga",
    "Carlos",
    "Fatima",
    "Jean",
    "Priya",
    "Kwame",
    "Maria",
    "Ahmed",
    "Li",
    "Sofia",
    "Ivan",
    "Nadia",
    "Pierre",
    "Lucia",
    "Omar",
    "Mei",
    "Dmitri",
    "Ana",
]
_LAST = [
    "Haddad",
    "Zhang",
    "Petrova",
    "García",
    "Mensah",
    "Dubois",
    "Sharma",
    "Okafor",
    "Silva",
    "Rahman",
    "Chen",
    "Rossi",
    "Ivanov",
    "Benali",
    "Martin",
    "López",
    "Nasser",
    "Wang",
    "Kuznetsov",
    "Costa",
]
_COUNTRIES = [
    "Ghana",
    "India",
    "Mexico",
    "France",
    "Egypt",
    "China",
    "Russian Federation",
    "Brazil",
    "Kenya",
    "Jordan",
    "Peru",
    "Viet Nam",
    "Morocco",
    "Ethiopia",
    "Philippines",
]
_ROLES = [
    "Front-line health care provider",
    "Administrator",
    "Policy-maker",
    "Advocate",
    "Civil society",
    "Academic",
    "Patient representative",
    "Community representative",
]
_LANGS = ["en"] * 8 + ["fr"] * 4 + ["es"] * 3 + ["ar"] * 2 + ["ru"] * 2 + ["zh"] * 2


def seed_catalog(session: Session, resources_dir: Path) -> None:
    """Create the GLL's pods, topics and gated resources (and the resource files) when missing, with
    their names in the six languages (added to a catalog seeded before it had them)."""
    for model, rows in ((Pod, PODS), (Topic, TOPICS)):
        have = {row.slug: row for row in session.exec(select(model))}
        for slug, name, description in rows:
            texts = TRANSLATIONS.get(slug, {})
            names = {lang: pair[0] for lang, pair in texts.items()}
            descriptions = {lang: pair[1] for lang, pair in texts.items()}
            row = have.get(slug)
            if row is None:
                session.add(
                    model(slug=slug, name=name, description=description, names=names, descriptions=descriptions)
                )
            elif not row.names:
                row.names, row.descriptions = names, descriptions
                session.add(row)
    have_resources = {r.slug: r for r in session.exec(select(Resource))}
    resources_dir.mkdir(parents=True, exist_ok=True)
    for slug, title, access, filename in RESOURCES:
        path = resources_dir / filename
        if not path.exists():
            path.write_text(
                f"<!doctype html><html lang='en'><meta charset='utf-8'><title>{title}</title>"
                f"<h1>{title}</h1><p>WHO Global Learning Laboratory for Quality UHC.</p></html>\n",
                encoding="utf-8",
            )
        existing = have_resources.get(slug)
        if existing is None:
            session.add(
                Resource(slug=slug, title=title, access=access, file_path=filename, titles=TITLES.get(slug, {}))
            )
        elif not existing.titles:
            existing.titles = TITLES.get(slug, {})
            session.add(existing)
    session.flush()


def seed_members(session: Session, count: int = 300, *, seed: int = 2019) -> int:
    """Add ``count`` generated members (deterministic) on the demo domain; returns how many were new."""
    rng = random.Random(seed)
    pods = {p.slug: p.id for p in session.exec(select(Pod))}
    topics = {t.slug: t.id for t in session.exec(select(Topic))}
    existing = set(session.exec(select(Subscriber.email).where(Subscriber.email.like(f"%@{DEMO_DOMAIN}"))))
    now = utcnow()
    added = 0
    for i in range(count):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        email = f"member{i:04d}@{DEMO_DOMAIN}"
        registered = rng.random() < 0.7
        member_pods = [slug for slug in pods if registered and rng.random() < 0.3]
        language = rng.choice(_LANGS)
        if email in existing:
            continue
        subscriber = Subscriber(
            email=email,
            name=f"{first} {last}" if rng.random() < 0.9 else "",
            language=language,
            country=rng.choice(_COUNTRIES),
            organization=f"{rng.choice(_LAST)} District Hospital",
            role=rng.choice(_ROLES),
            registered_at=now if registered else None,
            consent_source="demo",
            consent_at=now,
        )
        session.add(subscriber)
        session.flush()
        session.add(Subscription(subscriber_id=subscriber.id, topic_id=topics["announcements"]))
        if rng.random() < 0.5:
            session.add(Subscription(subscriber_id=subscriber.id, topic_id=topics["webinars"]))
        for slug in member_pods:
            session.add(PodMembership(subscriber_id=subscriber.id, pod_id=pods[slug]))
        added += 1
    session.flush()
    return added
