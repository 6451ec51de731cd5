"""Synthetic demo data: staff of every role and a clinic's worth of made-up patients.

Everything here is invented: names are drawn from built-in lists, phone numbers sit in the
fictional 555-01xx range, emails are at example.org/.com/.net and notes say "Synthetic".
Patients are bulk-inserted (10,000 in a few seconds) with their change-log rows, so a later
sync pushes them like any other local change. The appointment book (seed_schedule) gets a
location with ten chairs, providers' hours and blocks, appointment types, recalls, reminder
rules and about a year of bookings around today, inserted the same way.
"""

import random
import secrets
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Boolean, Integer, cast, func, select

from app.db.models import (
    Appointment,
    AppointmentStatusChange,
    AppointmentType,
    Base,
    ChangeLog,
    Location,
    MedicalAlert,
    Operatory,
    Patient,
    PatientInsurance,
    PatientRecall,
    RecallType,
    ReminderRule,
    ScheduleBlock,
    StaffUser,
    WeeklyHoursRow,
)
from app.db.types import IsoDate, UtcDateTime, utcnow
from app.domain.dates import age_on
from app.domain.ids import new_id
from app.domain.patients import (
    AlertInput,
    AlertKind,
    CleanPatient,
    InsuranceInput,
    PatientInput,
    Relationship,
    validate_patient,
)
from app.domain.permissions import Role
from app.domain.scheduling import add_months, local_to_utc
from app.services import users
from app.services.context import Actor, Ctx
from app.services.runtime import ClinicRuntime

# --- name lists (invented combinations; any resemblance to a real person is chance) ---

_FEMALE = """
Olivia Emma Ava Sophia Isabella Mia Charlotte Amelia Harper Evelyn Abigail Emily Elizabeth Madison
Avery Ella Scarlett Grace Chloe Victoria Riley Aria Lily Aubrey Zoë Penelope Nora Hannah Hazel
Ellie Stella Natalie Leah Audrey Savannah Claire Lucy Anna Caroline Aaliyah Samantha Maya Sarah
Ruth Margaret Dorothy Patricia Barbara Linda Susan Karen Nancy Betty Helen Sandra Donna Carol
Sharon Michelle Laura Kimberly Deborah Jessica Rebecca Cynthia Kathleen Amy Angela Shirley Brenda
Pamela Nicole Katherine Christine Rachel Janet Catherine Maria Heather Diane Julie Joyce Frances
Joan Priya Ananya Aisha Fatima Zainab Amara Chidinma Ngozi Adaeze Yetunde Wanjiru Nia Imani Mei
Xiaoling Yan Hui Hana Yuki Sakura Aiko Haruka Mio Ji-woo Seo-yeon Min-ji Linh Mai Anh Ngoc Lan
Ximena Valentina Camila Lucía Guadalupe Carmen Rosa Alejandra Daniela Paola Fernanda Inés Beatriz
Mariana Gabriela Renata Juliana Luísa Giulia Francesca Chiara Elena Alessia Ingrid Astrid Freya
Sigrid Saoirse Aoife Siobhán Niamh Róisín Clodagh Maeve Olga Natalia Anastasia Tatiana Katarzyna
Agnieszka Małgorzata Zsófia Léa Chloé Manon Camille Élodie Amélie Noémie Leila Yasmin Noor Mariam
Rania Shirin Parisa Esther Miriam Tova Rivka Ayelet Keisha Tanisha Latoya Ebony Shanice Jasmine
Leilani Malia Marisol Itzel Xóchitl Nayeli Deepika Kavya Lakshmi Sunita Meera Anjali Divya Farah
Halima Amina Asha Aroha Talia Sienna Harriet Imogen Beatrix Gwen Dagny Ayşe Elif Zeynep Eleni
"""

_MALE = """
Liam Noah Oliver Elijah James William Benjamin Lucas Henry Alexander Mason Michael Ethan Daniel
Jacob Logan Jackson Levi Sebastian Mateo Jack Owen Theodore Aiden Samuel Joseph John David Wyatt
Matthew Luke Asher Carter Julian Grayson Leo Gabriel Isaac Lincoln Anthony Hudson Dylan Ezra
Thomas Charles Christopher Josiah Isaiah Andrew Robert Richard Kenneth Steven Edward Brian Ronald
Timothy Jason Jeffrey Gary Larry Frank Raymond Gregory Walter Harold Arthur Eugene Ralph Roy
Louis Russell Howard Raj Arjun Vikram Rohan Aarav Sanjay Ravi Anil Amit Suresh Mohammed Ahmed
Omar Yusuf Ali Hassan Ibrahim Karim Tariq Bilal Chinedu Emeka Obinna Chukwuemeka Tunde Kwame Kofi
Kwabena Jabari Tendai Thabo Sipho Wei Jian Hao Jun Ming Zhiwei Haruto Yuto Sota Ren Kenji Hiroshi
Min-jun Ji-ho Seo-jun Dong-hyun Minh Duc Huy Quang Tuan Santiago Diego Alejandro Javier Carlos
José Jesús Miguel Luis Andrés Joaquín Emilio Rafael Tomás João Pedro Thiago Gonçalo Giovanni
Lorenzo Matteo Francesco Luca Björn Lars Søren Magnus Anders Nils Oisín Seán Cian Pádraig Tadhg
Darragh Ciarán Dmitri Ivan Sergei Alexei Piotr Tomasz Krzysztof Mikołaj László Bence François
Mathéo Théo Étienne Lucien René Hugo Amir Reza Farid Kian Eitan Avi Yosef Moshe DeShawn Jamal
Tyrone Darnell Malik Marquis Keanu Kai Koa Nikolai Wiremu Hemi Mehmet Emre Nikos Dimitris Bao
"""

_NEUTRAL = "Alex Jordan Taylor Morgan Casey Jamie Robin Sam Quinn Rowan Sasha Oluwaseun Ariel Noa"

_LAST = """
Smith|Johnson|Williams|Brown|Jones|Garcia|Miller|Davis|Rodriguez|Martinez|Hernandez|Lopez|Gonzalez
Wilson|Anderson|Thomas|Taylor|Moore|Jackson|Martin|Lee|Perez|Thompson|White|Harris|Sanchez|Clark
Ramirez|Lewis|Robinson|Walker|Young|Allen|King|Wright|Scott|Torres|Nguyen|Hill|Flores|Green|Adams
Nelson|Baker|Hall|Rivera|Campbell|Mitchell|Carter|Roberts|Gomez|Phillips|Evans|Turner|Diaz|Parker
Cruz|Edwards|Collins|Reyes|Stewart|Morris|Morales|Murphy|Cook|Rogers|Gutierrez|Ortiz|Morgan|Cooper
Peterson|Bailey|Reed|Kelly|Howard|Ramos|Kim|Cox|Ward|Richardson|Watson|Brooks|Chavez|Wood|James
Bennett|Gray|Mendoza|Ruiz|Hughes|Price|Alvarez|Castillo|Sanders|Myers|Long|Ross|Foster|Jimenez
Powell|Jenkins|Perry|Russell|Sullivan|Bell|Coleman|Butler|Henderson|Barnes|Fisher|Vasquez|Simmons
Romero|Jordan|Patterson|Alexander|Hamilton|Graham|Reynolds|Griffin|Wallace|Moreno|West|Cole|Hayes
Bryant|Herrera|Gibson|Ellis|Tran|Medina|Aguilar|Stevens|Murray|Ford|Castro|Marshall|Owens|Harrison
Fernandez|McDonald|Woods|Washington|Kennedy|Wells|Vargas|Henry|Chen|Freeman|Webb|Tucker|Guzman
Burns|Crawford|Olson|Simpson|Porter|Hunter|Gordon|Mendez|Silva|Shaw|Snyder|Mason|Dixon|Muñoz|Hunt
Hicks|Holmes|Palmer|Wagner|Black|Robertson|Boyd|Rose|Stone|Salazar|Fox|Warren|Mills|Meyer|Rice
Okafor|Okonkwo|Adeyemi|Nwosu|Eze|Obi|Balogun|Mensah|Owusu|Boateng|Asante|Kamau|Otieno|Mwangi
Ndlovu|Dlamini|Nkosi|Abebe|Tesfaye|Haile|Diallo|Traoré|Keita|Koné|Sow|Patel|Shah|Mehta|Desai|Iyer
Reddy|Nair|Gupta|Sharma|Singh|Kumar|Chaudhry|Khan|Malik|Qureshi|Hussain|Siddiqui|Rahman|Chowdhury
Das|Banerjee|Mukherjee|Bose|Pillai|Menon|Wang|Li|Zhang|Liu|Yang|Huang|Zhao|Wu|Zhou|Xu|Sun|Ma|Zhu
Hu|Guo|Lin|He|Gao|Luo|Zheng|Tanaka|Suzuki|Takahashi|Watanabe|Ito|Yamamoto|Nakamura|Kobayashi
Sato|Kato|Yoshida|Yamada|Park|Choi|Jung|Kang|Cho|Yoon|Jang|Lim|Han|Trần|Lê|Phạm|Hoàng|Huỳnh|Phan
Vũ|Đặng|Bùi|Ngô|Dương|Núñez|Peña|Ibáñez|Báez|Domínguez|Vázquez|Sandoval|Delgado|Aguirre|Cortés
Valencia|Cárdenas|Villanueva|Espinoza|Rojas|Navarro|Ríos|Fuentes|Mejía|Acosta|Quintero|Solís
Calderón|Zamora|Ochoa|Cabrera|Salinas|Montoya|Figueroa|de la Cruz|de León|Müller|Schneider|Fischer
Weber|Becker|Hoffmann|Schäfer|Koch|Richter|Klein|Wolf|Schröder|Neumann|Zimmermann|Krüger|Hartmann
Lange|Werner|Kowalski|Nowak|Wiśniewski|Wójcik|Kamiński|Lewandowski|Zieliński|Szymański|Dąbrowski
Kozłowski|Novák|Svoboda|Dvořák|Horváth|Nagy|Kovács|Tóth|Szabó|Popescu|Ionescu|Petrov|Ivanov
Smirnov|Kuznetsov|Popov|Sokolov|Volkov|Pavlov|Morozov|Rossi|Russo|Ferrari|Esposito|Bianchi|Romano
Colombo|Ricci|Marino|Greco|Bruno|Gallo|Conti|Costa|De Luca|Giordano|Mancini|Lombardi|Moretti
Barbieri|Fontana|Santoro|Rinaldi|Caruso|Leone|Gentile|Vitale|Coppola|Santos|Oliveira|Souza|Pereira
Carvalho|Almeida|Ferreira|Gonçalves|Araújo|Ribeiro|Barbosa|Lima|Cardoso|Dubois|Lefèvre|Moreau
Laurent|Girard|Bonnet|Dupont|Lambert|Fontaine|Rousseau|Chevalier|Bérubé|Gagnon|Tremblay|Côté
Bouchard|Gauthier|Pelletier|Lévesque|Andersson|Johansson|Karlsson|Nilsson|Eriksson|Larsson|Olsen
Hansen|Jensen|Nielsen|Pedersen|Virtanen|Korhonen|Mäkinen|Nieminen|Jansen|de Jong|van der Berg
van Dijk|Bakker|Visser|Smit|Meijer|de Vries|Mulder|Peeters|Janssens|Maes|O'Brien|O'Connor
O'Sullivan|Ó Briain|Ó Súilleabháin|Mac Cárthaigh|Byrne|Ryan|Doyle|McCarthy|Gallagher|Doherty
Lynch|Quinn|McLaughlin|MacDonald|MacLeod|Fraser|Ferguson|Davies|Llewellyn|Pritchard|Cohen|Levy
Friedman|Goldberg|Katz|Shapiro|Rosen|Weiss|Kaplan|Abramowitz|Haddad|Khoury|Nasser|Saleh|Mansour
Aziz|Hakimi|Karimi|Hosseini|Ahmadi|Rezaei|Yılmaz|Kaya|Demir|Şahin|Çelik|Öztürk|Aydın|Özdemir
Arslan|Doğan|Papadopoulos|Georgiou|Nikolaidis|Oikonomou|Kealoha|Kahananui|Makoa|Ngata|Parata
Begay|Yazzie|Tsosie|Benally|Nakai
"""

_NICKNAMES = {
    "William": "Bill",
    "Elizabeth": "Liz",
    "Robert": "Bob",
    "Katherine": "Kate",
    "Margaret": "Peggy",
    "Alexander": "Sasha",
    "Christopher": "Chris",
    "Patricia": "Trish",
    "Richard": "Rick",
    "Benjamin": "Ben",
    "Samantha": "Sam",
    "Theodore": "Teddy",
    "Jonathan": "Jon",
    "Chukwuemeka": "Emeka",
    "Xiaoling": "Lily",
    "Zhiwei": "David",
    "Małgorzata": "Gosia",
    "Anastasia": "Nastya",
    "Guadalupe": "Lupe",
    "Francesca": "Frankie",
    "Kwabena": "Ben",
    "Dmitri": "Dima",
}
_ADOPTED = ("Kevin", "Grace", "Tony", "Vivian", "Eddie", "Jenny", "Sunny", "Max")

# (city, state, zip prefix, area codes); the first five are the clinic's own neighbourhood
_PLACES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("New York", "NY", "100", ("212", "646", "917")),
    ("Brooklyn", "NY", "112", ("718", "347", "929")),
    ("Queens", "NY", "113", ("718", "347")),
    ("Jersey City", "NJ", "073", ("201", "551")),
    ("Yonkers", "NY", "107", ("914",)),
    ("Newark", "NJ", "071", ("973", "862")),
    ("Buffalo", "NY", "142", ("716",)),
    ("Boston", "MA", "021", ("617", "857")),
    ("Worcester", "MA", "016", ("508", "774")),
    ("Providence", "RI", "029", ("401",)),
    ("Hartford", "CT", "061", ("860", "959")),
    ("Philadelphia", "PA", "191", ("215", "267")),
    ("Pittsburgh", "PA", "152", ("412",)),
    ("Baltimore", "MD", "212", ("410", "443")),
    ("Washington", "DC", "200", ("202",)),
    ("Richmond", "VA", "232", ("804",)),
    ("Raleigh", "NC", "276", ("919", "984")),
    ("Charlotte", "NC", "282", ("704", "980")),
    ("Atlanta", "GA", "303", ("404", "678", "470")),
    ("Miami", "FL", "331", ("305", "786")),
    ("Orlando", "FL", "328", ("407", "321")),
    ("Tampa", "FL", "336", ("813",)),
    ("Nashville", "TN", "372", ("615", "629")),
    ("Louisville", "KY", "402", ("502",)),
    ("Columbus", "OH", "432", ("614",)),
    ("Cleveland", "OH", "441", ("216",)),
    ("Detroit", "MI", "482", ("313",)),
    ("Chicago", "IL", "606", ("312", "773", "872")),
    ("Milwaukee", "WI", "532", ("414",)),
    ("Minneapolis", "MN", "554", ("612",)),
    ("St. Louis", "MO", "631", ("314",)),
    ("New Orleans", "LA", "701", ("504",)),
    ("Houston", "TX", "770", ("713", "832", "281")),
    ("Dallas", "TX", "752", ("214", "469", "972")),
    ("San Antonio", "TX", "782", ("210", "726")),
    ("Austin", "TX", "787", ("512", "737")),
    ("Denver", "CO", "802", ("303", "720")),
    ("Albuquerque", "NM", "871", ("505",)),
    ("Phoenix", "AZ", "850", ("602", "480")),
    ("Salt Lake City", "UT", "841", ("801", "385")),
    ("Las Vegas", "NV", "891", ("702", "725")),
    ("Los Angeles", "CA", "900", ("213", "323", "310")),
    ("San Diego", "CA", "921", ("619", "858")),
    ("San Francisco", "CA", "941", ("415", "628")),
    ("Oakland", "CA", "946", ("510", "341")),
    ("Sacramento", "CA", "958", ("916", "279")),
    ("Portland", "OR", "972", ("503", "971")),
    ("Seattle", "WA", "981", ("206", "564")),
    ("Anchorage", "AK", "995", ("907",)),
    ("Honolulu", "HI", "968", ("808",)),
)
_LOCAL_PLACES = 5

_STREETS = """
Maple Oak Cedar Elm Pine Washington Lincoln Park Lake Hill Main Church Highland Sunset Riverside
Jefferson Madison Franklin Chestnut Walnut Willow Birch Spruce Magnolia Dogwood Mulberry Orchard
Meadow Forest Ridge Valley Spring Union Market Broad Prospect Summit Grove Bay Harbor Canal Mill
Adams Monroe Kennedy Liberty Independence Garfield Bedford Atlantic Pacific Ocean Central Cherry
Hawthorne Juniper Sycamore Laurel Aspen Bayview Fulton Jay Court Clinton Greene Putnam Lafayette
"""
_STREET_KINDS = ("St", "Ave", "Rd", "Blvd", "Ln", "Dr", "Ct", "Pl", "Way", "Ter")

_CARRIERS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("Delta Dental (demo)", ("PPO", "PPO Plus Premier", "DeltaCare USA"), "DD"),
    ("MetLife Dental (demo)", ("PDP Plus", "PDP High", "Dental HMO"), "ML"),
    ("Cigna Dental (demo)", ("DPPO Advantage", "Dental 1500", "Cigna Dental Care DHMO"), "CG"),
    ("Aetna Dental (demo)", ("Dental PPO", "DMO"), "AE"),
    ("Guardian Dental (demo)", ("DentalGuard Preferred", "Managed DentalGuard"), "GD"),
    ("United Concordia (demo)", ("Elite Plus", "Advantage Plus"), "UC"),
    ("Humana Dental (demo)", ("Preventive Value", "Extend 2000"), "HU"),
)

# (kind, description, chance it is marked severe)
_ALERTS: tuple[tuple[AlertKind, str, float], ...] = (
    (AlertKind.ALLERGY, "Penicillin", 0.1),
    (AlertKind.ALLERGY, "Latex", 0.15),
    (AlertKind.ALLERGY, "Codeine", 0.0),
    (AlertKind.ALLERGY, "Ibuprofen", 0.0),
    (AlertKind.ALLERGY, "Chlorhexidine", 0.1),
    (AlertKind.CONDITION, "Diabetes type 2", 0.0),
    (AlertKind.CONDITION, "Hypertension", 0.0),
    (AlertKind.CONDITION, "Pacemaker", 0.1),
    (AlertKind.CONDITION, "Asthma", 0.0),
    (AlertKind.CONDITION, "Artificial heart valve: antibiotic prophylaxis", 0.2),
    (AlertKind.MEDICATION, "Warfarin", 0.1),
    (AlertKind.MEDICATION, "Bisphosphonates (alendronate)", 0.05),
    (AlertKind.MEDICATION, "Metformin", 0.0),
    (AlertKind.MEDICATION, "Apixaban", 0.05),
)

_NOTES = (
    "Prefers morning appointments.",
    "Anxious patient; explain each step.",
    "Hard of hearing; speak clearly, face the patient.",
    "Interpreter helpful (Spanish).",
    "Likes a text reminder the day before.",
    "Referred by a family member.",
    "Gag reflex: take impressions with care.",
    "Wheelchair user; book the accessible operatory.",
)

_STAFF: tuple[tuple[str, str, Role, str, str], ...] = (
    ("dr.patel", "Dr Asha Patel", Role.DENTIST, "NY-DDS-048213 (demo)", "#2E86DE"),
    ("dr.okafor", "Dr Chidi Okafor", Role.DENTIST, "NY-DDS-051977 (demo)", "#E67E22"),
    ("hyg.jones", "Megan Jones RDH", Role.HYGIENIST, "NY-RDH-020344 (demo)", "#27AE60"),
    ("hyg.silva", "Rafael Silva RDH", Role.HYGIENIST, "NY-RDH-023180 (demo)", "#8E44AD"),
    ("reception.lee", "Grace Lee", Role.RECEPTIONIST, "", ""),
    ("reception.moreau", "Julien Moreau", Role.RECEPTIONIST, "", ""),
)
STAFF_USERNAMES = tuple(s[0] for s in _STAFF)

FEMALE_NAMES = tuple(_FEMALE.split())
MALE_NAMES = tuple(_MALE.split())
NEUTRAL_NAMES = tuple(_NEUTRAL.split())
LAST_NAMES = tuple(dict.fromkeys(n.strip() for line in _LAST.strip().splitlines() for n in line.split("|")))
STREETS = tuple(_STREETS.split())

EARLIEST_DOB = date(1935, 1, 1)
LATEST_DOB = date(2024, 12, 31)
NOTE = "Synthetic demo patient"


@dataclass
class _Person:
    """One generated patient: the form as typed, plus what the generator knows about it."""

    id: str
    form: PatientInput
    archived: bool = False
    insurance: list[InsuranceInput] = field(default_factory=list)
    alerts: list[AlertInput] = field(default_factory=list)


@dataclass
class _Household:
    place: tuple[str, str, str, tuple[str, ...]]
    street: str
    line2: str
    zip_code: str
    home_phone: str


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return "".join(c for c in plain.replace("đ", "d").replace("ł", "l").replace("ı", "i") if c.isalnum())


class _Generator:
    """Makes households of synthetic patients from one seeded random stream."""

    def __init__(self, rng: random.Random, today: date, phone_region: str = "US") -> None:
        self.rng = rng
        self.today = today
        self.latest_dob = min(today, LATEST_DOB)
        # the addresses are American: a clinic elsewhere reads them only with the country code
        self.dial_prefix = "" if phone_region == "US" else "+1 "

    # -- building blocks --

    def _phone(self, area_codes: tuple[str, ...]) -> str:
        rng = self.rng
        codes = area_codes if rng.random() < 0.8 else rng.choice(_PLACES)[3]
        return f"{self.dial_prefix}({rng.choice(codes)}) 555-01{rng.randrange(100):02d}"

    def _household(self) -> _Household:
        rng = self.rng
        place = rng.choice(_PLACES[:_LOCAL_PLACES]) if rng.random() < 0.6 else rng.choice(_PLACES)
        street = f"{rng.randrange(1, 9900)} {rng.choice(STREETS)} {rng.choice(_STREET_KINDS)}"
        line2 = rng.choice(("Apt 4B", "Apt 12", "Unit 3", "Suite 210", "Apt 7F", "Fl 2")) if rng.random() < 0.2 else ""
        home = self._phone(place[3]) if rng.random() < 0.4 else ""
        return _Household(place, street, line2, f"{place[2]}{rng.randrange(100):02d}", home)

    def _first(self, sex: str) -> str:
        rng = self.rng
        if rng.random() < 0.04:
            return rng.choice(NEUTRAL_NAMES)
        return rng.choice(FEMALE_NAMES if sex == "female" else MALE_NAMES)

    def _sex(self) -> str:
        r = self.rng.random()
        return "female" if r < 0.505 else "male" if r < 0.99 else "unknown" if r < 0.997 else "intersex"

    def _last(self) -> str:
        rng = self.rng
        if rng.random() < 0.04:
            a, b = rng.sample(LAST_NAMES, 2)
            return f"{a}-{b}"
        return rng.choice(LAST_NAMES)

    def _dob_between(self, earliest: date, latest: date) -> date:
        latest = min(latest, self.latest_dob)
        earliest = max(earliest, EARLIEST_DOB)
        if latest < earliest:
            latest = earliest
        return earliest + timedelta(days=self.rng.randrange((latest - earliest).days + 1))

    def _email(self, first: str, last: str) -> str:
        rng = self.rng
        local = f"{_ascii(first)}.{_ascii(last)}" if rng.random() < 0.6 else f"{_ascii(first)[:1]}{_ascii(last)}"
        if rng.random() < 0.5:
            local += str(rng.randrange(1, 100))
        return f"{local}@{rng.choice(('example.org', 'example.com', 'example.net'))}"

    def _preferred(self, first: str) -> str:
        rng = self.rng
        nick = _NICKNAMES.get(first)
        if nick and rng.random() < 0.5:
            return nick
        return rng.choice(_ADOPTED) if rng.random() < 0.03 else ""

    def person(
        self,
        home: _Household,
        *,
        last: str,
        dob: date,
        sex: str,
        guarantor_id: str | None = None,
    ) -> _Person:
        """A patient living at `home`, with contact details that fit their age."""
        rng = self.rng
        first = self._first(sex)
        age = age_on(dob, self.today)
        adult = age >= 18
        mobile = (
            self._phone(home.place[3]) if (adult and rng.random() < 0.92) or (age >= 13 and rng.random() < 0.5) else ""
        )
        email = self._email(first, last) if adult and rng.random() < 0.78 else ""
        work = self._phone(home.place[3]) if adult and age < 67 and rng.random() < 0.1 else ""
        consent_sms = bool(mobile) and rng.random() < 0.7
        consent_email = bool(email) and rng.random() < 0.65
        channels = ["phone"] * 3 + ["sms"] * (4 if consent_sms else 0) + ["email"] * (3 if consent_email else 0)
        if not (mobile or home.home_phone or work):
            channels = ["post"] + [c for c in channels if c != "phone"]
        preferred_contact = rng.choice(channels)
        middle = rng.choice(FEMALE_NAMES if sex == "female" else MALE_NAMES) if rng.random() < 0.25 else ""
        note = NOTE + (f". {rng.choice(_NOTES)}" if rng.random() < 0.1 else ".")
        form = PatientInput(
            first_name=first,
            last_name=last,
            date_of_birth=dob.isoformat(),
            preferred_name=self._preferred(first),
            middle_name=middle if middle != first else "",
            sex=sex,
            mobile_phone=mobile,
            home_phone=home.home_phone,
            work_phone=work,
            email=email,
            address_line1=home.street,
            address_line2=home.line2,
            city=home.place[0],
            region=home.place[1],
            postal_code=home.zip_code,
            country="United States",
            preferred_contact=preferred_contact,
            consent_sms=consent_sms,
            consent_email=consent_email,
            guarantor_id=guarantor_id,
            notes=note,
        )
        return _Person(new_id(), form, archived=rng.random() < 0.02, alerts=self._alerts(sex, age))

    def _alerts(self, sex: str, age: int) -> list[AlertInput]:
        rng = self.rng
        if rng.random() >= (0.22 if age >= 18 else 0.1):
            return []
        pool = [
            a
            for a in _ALERTS
            if not (a[1] in ("Warfarin", "Bisphosphonates (alendronate)", "Pacemaker", "Apixaban") and age < 45)
            and not (a[1] in ("Diabetes type 2", "Hypertension", "Metformin") and age < 25)
        ]
        if sex == "female" and 18 <= age <= 45:
            pool.append((AlertKind.CONDITION, "Pregnancy", 0.0))
        picked = rng.sample(pool, min(len(pool), rng.choice((1, 1, 1, 2, 2, 3))))
        return [AlertInput(str(kind), text, rng.random() < severe) for kind, text, severe in picked]

    def insurance(self, holder: _Person) -> list[InsuranceInput]:
        """Plans held in the patient's own name (primary, sometimes a secondary)."""
        rng = self.rng
        plans = []
        for priority, carrier in enumerate(rng.sample(_CARRIERS, 2 if rng.random() < 0.07 else 1), start=1):
            name, plan_names, prefix = carrier
            plans.append(
                InsuranceInput(
                    carrier=name,
                    member_id=f"{prefix}{rng.randrange(10**8, 10**9)}",
                    plan_name=rng.choice(plan_names),
                    subscriber_name=f"{holder.form.first_name} {holder.form.last_name}",
                    relationship=Relationship.SELF,
                    priority=priority,
                )
            )
        return plans

    def household(self, limit: int) -> list[_Person]:
        """A single patient, or (about one household in ten) a family with its guarantor first."""
        rng = self.rng
        home = self._household()
        if limit == 1 or rng.random() >= 0.095:
            sex = self._sex()
            kid = rng.random() < 0.06
            dob = (
                self._dob_between(date(2007, 1, 1), LATEST_DOB)
                if kid
                else self._dob_between(EARLIEST_DOB, date(2006, 12, 31))
            )
            p = self.person(home, last=self._last(), dob=dob, sex=sex)
            if rng.random() < 0.6:
                p.insurance = self.insurance(p)
            return [p]
        last = self._last()
        parent_sex = self._sex()
        parent_dob = self._dob_between(date(1960, 1, 1), date(1996, 12, 31))
        parent = self.person(home, last=last, dob=parent_dob, sex=parent_sex)
        parent.archived = False  # the family's guarantor stays active
        insured = rng.random() < 0.7
        if insured:
            parent.insurance = self.insurance(parent)
        family = [parent]
        size = min(limit, rng.choice((2, 3, 3, 4, 4, 5)))
        has_spouse = size > 1 and rng.random() < 0.6
        if has_spouse:
            spouse_sex = ("male" if parent_sex == "female" else "female") if rng.random() < 0.93 else parent_sex
            spouse_last = last if rng.random() < 0.7 else self._last()
            dob = parent_dob + timedelta(days=rng.randrange(-6 * 365, 6 * 365))
            family.append(self.person(home, last=spouse_last, dob=dob, sex=spouse_sex, guarantor_id=parent.id))
        while len(family) < size:
            dob = self._dob_between(parent_dob + timedelta(days=20 * 365), parent_dob + timedelta(days=42 * 365))
            child_last = last if rng.random() < 0.85 else f"{last}-{self._last()}"
            family.append(self.person(home, last=child_last, dob=dob, sex=self._sex(), guarantor_id=parent.id))
        for member in family[1:]:
            if insured:
                relation = Relationship.SPOUSE if has_spouse and member is family[1] else Relationship.CHILD
                member.insurance = [
                    InsuranceInput(i.carrier, i.member_id, i.plan_name, i.subscriber_name, relation, i.priority)
                    for i in parent.insurance
                ]
            elif rng.random() < 0.3:
                member.insurance = self.insurance(member)
        return family


def generate(count: int, *, seed: int = 2026, today: date | None = None, phone_region: str = "US") -> list[_Person]:
    """`count` synthetic patients in insertion order (each family's guarantor before its members)."""
    gen = _Generator(random.Random(seed), today or date.today(), phone_region)
    people: list[_Person] = []
    while len(people) < count:
        people.extend(gen.household(count - len(people)))
    for p in people:
        p.form = PatientInput(**{**vars(p.form), "insurance": tuple(p.insurance), "alerts": tuple(p.alerts)})
    return people


@lru_cache(maxsize=1)
def _patient_columns() -> tuple[str, ...]:
    return tuple(c.name for c in Patient.__table__.columns)


def _admin_ctx(runtime: ClinicRuntime) -> Ctx:
    """An administrator's context, without a password (the seeder runs at clinic creation)."""
    with runtime.sessions() as s:
        admin = s.scalar(
            select(StaffUser)
            .where(
                StaffUser.role == Role.ADMINISTRATOR.value,
                StaffUser.active.is_(True),
                StaffUser.deleted_at.is_(None),
            )
            .order_by((StaffUser.username != "admin"), StaffUser.created_at)
            .limit(1)
        )
        if admin is None:
            raise RuntimeError("The clinic has no active administrator to seed it with.")
        return Ctx(runtime, Actor(admin.id, admin.username, admin.display_name, Role(admin.role)))


def _seed_staff(ctx: Ctx, password: str) -> int:
    with ctx.runtime.sessions() as s:
        existing = set(s.scalars(select(StaffUser.username)))
    added = 0
    for username, name, role, licence, colour in _STAFF:
        if username in existing:
            continue
        users.add_staff(ctx, users.NewStaff(username, name, role, password, licence, colour))
        added += 1
    return added


def _sync_cols(row_id: str, now: Any) -> dict[str, Any]:
    return {"id": row_id, "created_at": now, "updated_at": now, "version": 1, "deleted_at": None}


def _rows(
    people: list[_Person], clean: list[CleanPatient], first_chart: int, now: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    patients, plans, alerts = [], [], []
    # one microsecond apart: an incremental reader keyed on updated_at (the search index
    # re-reads rows stamped at its high-water mark) must not see 10,000 rows share one stamp
    start = now - timedelta(microseconds=len(people))
    for n, (p, c) in enumerate(zip(people, clean, strict=True)):
        now = start + timedelta(microseconds=n + 1)
        row = {name: getattr(c, name) for name in _patient_columns() if hasattr(c, name)}
        row.update(_sync_cols(p.id, now))
        row.update(
            chart_no=str(first_chart + n),
            sex=str(c.sex),
            preferred_contact=str(c.preferred_contact),
            guarantor_id=p.form.guarantor_id,
            archived_at=now if p.archived else None,
        )
        patients.append(row)
        for i in c.insurance:
            plans.append(
                {
                    **_sync_cols(new_id(), now),
                    "patient_id": p.id,
                    "priority": i.priority,
                    "carrier": i.carrier,
                    "plan_name": i.plan_name,
                    "member_id": i.member_id,
                    "subscriber_name": i.subscriber_name,
                    "relation": str(i.relationship),
                }
            )
        for a in c.alerts:
            alerts.append(
                {
                    **_sync_cols(new_id(), now),
                    "patient_id": p.id,
                    "kind": str(a.kind),
                    "description": a.description,
                    "severe": a.severe,
                }
            )
    return patients, plans, alerts


def seed(
    runtime: ClinicRuntime, *, patients: int, staff_password: str, seed: int = 2026, now: datetime | None = None
) -> None:
    """Fill a new clinic with demo staff (password `staff_password`), `patients` patients and a year of bookings."""
    ctx = _admin_ctx(runtime)
    staff_added = _seed_staff(ctx, staff_password)
    info = runtime.info
    today = now.astimezone(ZoneInfo(info.time_zone)).date() if now else date.today()
    book_now = now  # `now` names the row stamps below
    people = generate(patients, seed=seed, today=today, phone_region=info.phone_region)
    # every generated form goes through the same rules as the patient form (about 80 µs each)
    clean = [
        validate_patient(p.form, today=today, phone_region=info.phone_region, date_order=info.date_order)
        for p in people
    ]
    with ctx.uow() as uow:  # holds runtime.write_lock until the commit
        s = uow.session
        top = s.scalar(select(func.max(cast(Patient.chart_no, Integer))))
        first_chart = max(int(top or 0) + 1, 1001)
        now = utcnow()
        patient_rows, plan_rows, alert_rows = _rows(people, clean, first_chart, now)
        changes: list[dict[str, Any]] = []
        tables = Base.metadata.tables
        for table, rows in (
            (tables[Patient.__tablename__], patient_rows),
            (tables[PatientInsurance.__tablename__], plan_rows),
            (tables[MedicalAlert.__tablename__], alert_rows),
        ):
            if rows:
                s.execute(table.insert(), rows)  # one executemany; guarantors come before members
            changes.extend(
                {
                    "table_name": table.name,
                    "row_id": r["id"],
                    "operation": "insert",
                    "row_version": 1,
                    "changed_at": r["updated_at"],
                    "pushed_at": None,
                }
                for r in rows
            )
        if changes:
            s.execute(tables[ChangeLog.__tablename__].insert(), changes)
        counts = {
            "patients": len(patient_rows),
            "families": len({p.form.guarantor_id for p in people if p.form.guarantor_id}),
            "insurance_plans": len(plan_rows),
            "medical_alerts": len(alert_rows),
            "archived": sum(p.archived for p in people),
            "staff_added": staff_added,
            "seed": seed,
        }
        uow.audit("clinic.demo_seeded", entity_type="clinic", entity_id=info.clinic_id, details=counts)
        uow.commit()
    seed_schedule(runtime, today=today, seed=seed, staff_password=staff_password, now=book_now)


# --- the appointment book ---------------------------------------------------------------------

DEMO_LOCATION = "Riverside Dental — Main St"
DEMO_OPERATORIES = 10
HISTORY_DAYS = 300
AHEAD_DAYS = 60

# (name, minutes, colour, default procedure codes)
_APPOINTMENT_TYPES: tuple[tuple[str, int, str, str], ...] = (
    ("New patient exam", 60, "#4C8BF5", "D0150,D0210"),
    ("Recall & cleaning", 60, "#43A047", "D0120,D1110,D0274"),
    ("Perio maintenance", 60, "#00897B", "D4910"),
    ("Filling", 45, "#FB8C00", "D2391"),
    ("Crown prep", 90, "#8E24AA", "D2740"),
    ("Root canal", 90, "#D81B60", "D3330"),
    ("Extraction", 45, "#6D4C41", "D7140"),
    ("Emergency", 30, "#E53935", "D0140"),
    ("Consult", 30, "#546E7A", "D9310"),
)
HYGIENE_TYPES = ("Recall & cleaning", "Perio maintenance")
# how often each kind of provider books each type (weights)
_DENTIST_MIX = (
    ("Filling", 40),
    ("Emergency", 15),
    ("Consult", 17),
    ("Extraction", 10),
    ("New patient exam", 6),
    ("Crown prep", 7),
    ("Root canal", 5),
)
_HYGIENIST_MIX = (("Recall & cleaning", 66), ("Perio maintenance", 24), ("New patient exam", 10))

# a large group practice: ten chairs need more providers than the six demo staff accounts
_MORE_PROVIDERS: tuple[tuple[str, str, Role, str, str], ...] = (
    ("dr.nguyen", "Dr Linh Nguyen", Role.DENTIST, "NY-DDS-053310 (demo)", "#C0392B"),
    ("dr.rossi", "Dr Marco Rossi", Role.DENTIST, "NY-DDS-049902 (demo)", "#16A085"),
    ("dr.haddad", "Dr Leila Haddad", Role.DENTIST, "NY-DDS-055471 (demo)", "#D35400"),
    ("dr.kowalski", "Dr Anna Kowalski", Role.DENTIST, "NY-DDS-046128 (demo)", "#2C3E50"),
    ("dr.mwangi", "Dr Wanjiru Mwangi", Role.DENTIST, "NY-DDS-057264 (demo)", "#8E24AA"),
    ("hyg.tanaka", "Yuki Tanaka RDH", Role.HYGIENIST, "NY-RDH-024417 (demo)", "#F39C12"),
    ("hyg.obrien", "Siobhán O'Brien RDH", Role.HYGIENIST, "NY-RDH-021956 (demo)", "#1ABC9C"),
    ("hyg.mensah", "Kofi Mensah RDH", Role.HYGIENIST, "NY-RDH-025083 (demo)", "#7F8C8D"),
)
_PROVIDER_PALETTE = ("#3949AB", "#00ACC1", "#7CB342", "#F4511E", "#6D4C41", "#5E35B1", "#C0CA33", "#039BE5")
SATURDAY_PROVIDER = "hyg.jones"
VACATION_PROVIDER = "dr.okafor"

_CANCEL_REASONS = (
    "Patient ill",
    "Work commitment",
    "Childcare problem",
    "Transport problem",
    "Rescheduled by patient",
    "Family emergency",
)
_BROKEN_REASONS = ("Called an hour before", "Left a message on the morning", "Running late, could not wait")

# (local start, local end) in minutes of the day
_WEEKDAY_SHIFT = (8 * 60, 17 * 60)
_SATURDAY_SHIFT = (8 * 60, 13 * 60)
_LUNCH = (12 * 60, 13 * 60)
_MEETING = (16 * 60, 17 * 60)  # the first Thursday of each month, everyone
_GRID = 10


@dataclass
class _Visit:
    """One generated booking, before it becomes rows."""

    day: date
    start: int  # local minutes of the day
    minutes: int
    provider: int  # index into the providers
    operatory: int
    patient: int  # index into the patients
    type_name: str
    id: str = ""
    starts_at: Any = None
    ends_at: Any = None
    status: str = "scheduled"
    steps: list[tuple[str, str, Any, str]] = field(default_factory=list)  # (from, to, when, reason)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _first_weekday(year: int, month: int, weekday: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7)


def _vacation_week(today: date) -> tuple[date, date]:
    """Monday to Friday of the first full week of next month."""
    nxt = date(today.year + today.month // 12, today.month % 12 + 1, 1)
    monday = _first_weekday(nxt.year, nxt.month, 0)
    return monday, monday + timedelta(days=4)


def _meeting_days(first: date, last: date) -> list[date]:
    days = []
    y, m = first.year, first.month
    while date(y, m, 1) <= last:
        d = _first_weekday(y, m, 3)
        if first <= d <= last:
            days.append(d)
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return days


def _free_segments(day: date, saturday: bool, meeting: bool) -> list[tuple[int, int]]:
    """The provider's bookable local minutes that day: the shift less lunch and the monthly meeting."""
    if saturday:
        return [_SATURDAY_SHIFT]
    segments = [(_WEEKDAY_SHIFT[0], _LUNCH[0]), (_LUNCH[1], _WEEKDAY_SHIFT[1])]
    if meeting:
        segments = [(s, min(e, _MEETING[0])) if e > _MEETING[0] else (s, e) for s, e in segments]
    return [(s, e) for s, e in segments if e > s]


def _fill_day(
    rng: random.Random, segments: list[tuple[int, int]], mix: tuple[tuple[str, int], ...], lengths: dict[str, int]
) -> list[tuple[int, int, str]]:
    """(start, minutes, type) packed back to back, then thinned at random to 70-85% of the free time."""
    names = [n for n, _ in mix]
    weights = [w for _, w in mix]
    packed: list[tuple[int, int, str]] = []
    for seg_start, seg_end in segments:
        t = seg_start
        while True:
            room = seg_end - t
            fits = [(n, w) for n, w in zip(names, weights, strict=True) if lengths[n] <= room]
            if not fits:
                break
            name = rng.choices([n for n, _ in fits], [w for _, w in fits])[0]
            packed.append((t, lengths[name], name))
            # the next visit starts on the 10-minute grid: a 45-minute visit leaves 5 to turn the chair over
            t += -(-lengths[name] // _GRID) * _GRID
    free = sum(e - s for s, e in segments)
    target = free * rng.uniform(0.70, 0.85)
    booked = sum(m for _, m, _ in packed)
    while packed and booked > target:
        gone = packed.pop(rng.randrange(len(packed)))
        booked -= gone[1]
    return packed


def _outcome(rng: random.Random, start: Any, end: Any, now: Any, is_today: bool) -> str:
    """A believable status for a visit at [start, end) seen at `now`."""
    r = rng.random()
    if end <= now:
        if is_today:
            return "completed" if r < 0.93 else "no_show" if r < 0.97 else "cancelled"
        return "completed" if r < 0.89 else "cancelled" if r < 0.94 else "no_show" if r < 0.97 else "broken"
    if start <= now:
        return "seated" if r < 0.85 or now - start > timedelta(minutes=15) else "arrived"
    ahead = start - now
    if ahead <= timedelta(minutes=15):
        return "arrived" if r < 0.4 else "confirmed"
    if ahead < timedelta(days=2):
        return "confirmed" if r < 0.7 else "scheduled"
    if is_today:
        return "confirmed" if r < 0.7 else "scheduled"
    return "confirmed" if r < 0.12 else "scheduled"


def _steps(rng: random.Random, v: _Visit, now: Any) -> list[tuple[str, str, Any, str]]:
    """The status changes that lead from 'scheduled' to the visit's status, each in the past."""
    minute = timedelta(minutes=1)
    latest = now - minute
    out: list[tuple[str, str, Any, str]] = []
    current = "scheduled"
    at = v.starts_at - timedelta(days=3)

    def step(to: str, when: Any, reason: str = "") -> None:
        nonlocal current, at
        when = min(max(when, at), latest)
        out.append((current, to, when, reason))
        current, at = to, when

    status = v.status
    confirm_first = {"completed": 0.75, "no_show": 0.5, "cancelled": 0.4, "broken": 0.5, "arrived": 0.8, "seated": 0.8}
    if status == "confirmed" or rng.random() < confirm_first.get(status, 0.0):
        step("confirmed", v.starts_at - timedelta(days=2) + rng.randrange(0, 600) * minute)
    if status in ("arrived", "seated", "completed"):
        step("arrived", v.starts_at - rng.randrange(0, 13) * minute)
    if status in ("seated", "completed"):
        step("seated", v.starts_at + rng.randrange(0, 9) * minute)
    if status == "completed":
        step("completed", v.ends_at + rng.randrange(0, 6) * minute)
    elif status == "cancelled":
        step("cancelled", v.starts_at - rng.randrange(120, 5 * 24 * 60) * minute, rng.choice(_CANCEL_REASONS))
    elif status == "no_show":
        step("no_show", v.starts_at + 20 * minute)
    elif status == "broken":
        step("broken", v.starts_at - rng.randrange(10, 120) * minute, rng.choice(_BROKEN_REASONS))
    return out


def _seed_providers(ctx: Ctx, password: str) -> int:
    with ctx.runtime.sessions() as s:
        existing = set(s.scalars(select(StaffUser.username)))
    added = 0
    for username, name, role, licence, colour in _MORE_PROVIDERS:
        if username not in existing:
            users.add_staff(ctx, users.NewStaff(username, name, role, password, licence, colour))
            added += 1
    return added


def _utc_text(v: datetime | None) -> str | None:
    """UtcDateTime's stored text ('%Y-%m-%dT%H:%M:%S.%fZ'), several times faster to make than strftime."""
    if v is None:
        return None
    if v.tzinfo is not UTC:
        v = v.astimezone(UTC)
    return v.isoformat(timespec="microseconds")[:26] + "Z"


def _converter(column: Any) -> Any:
    if isinstance(column.type, UtcDateTime):
        return _utc_text
    if isinstance(column.type, IsoDate):
        return lambda v: None if v is None else v.isoformat()
    if isinstance(column.type, Boolean):
        return lambda v: None if v is None else int(v)
    return None


def _bulk_insert(s: Any, table: str, rows: list[dict[str, Any]]) -> None:
    """One executemany of plain tuples, stored as the column types store them, skipping SQLAlchemy's per-value work."""
    if not rows:
        return
    columns = Base.metadata.tables[table].columns
    cols = list(rows[0])
    convert = [_converter(columns[c]) for c in cols]
    plan = list(zip(cols, convert, strict=True))
    values = [tuple(r[c] if f is None else f(r[c]) for c, f in plan) for r in rows]
    sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    s.connection().exec_driver_sql(sql, values)


def _changes(table: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "table_name": table,
            "row_id": r["id"],
            "operation": "insert",
            "row_version": 1,
            "changed_at": r["updated_at"],
            "pushed_at": None,
        }
        for r in rows
    ]


def seed_schedule(
    runtime: ClinicRuntime,
    *,
    today: date,
    seed: int = 2026,
    staff_password: str | None = None,
    now: datetime | None = None,
) -> dict[str, int]:
    """Give a demo clinic its appointment book: a location of ten chairs, hours, blocks, types,
    recalls, reminder rules, and bookings from HISTORY_DAYS before `today` to AHEAD_DAYS after.

    Bookings never overlap for a provider, chair or patient, sit inside working hours (not
    over lunch or the monthly meeting), and carry statuses that fit `now` (default: the
    clock), with the status changes that led there. Done once: a clinic that already has
    the demo location is left alone. Returns what it made.
    """
    ctx = _admin_ctx(runtime)
    with runtime.sessions() as s:
        if s.scalar(select(Location.id).where(Location.name == DEMO_LOCATION, Location.deleted_at.is_(None))):
            return {}
    # nobody knows a random password: an administrator resets it before anyone signs in
    providers_added = _seed_providers(ctx, staff_password or secrets.token_urlsafe(18))
    now = now or utcnow()
    rng = random.Random(seed * 7919 + 17)
    tz_name = runtime.info.time_zone
    tz = ZoneInfo(tz_name)
    first_day, last_day = today - timedelta(days=HISTORY_DAYS), today + timedelta(days=AHEAD_DAYS)
    vacation = _vacation_week(today)
    meetings = set(_meeting_days(first_day, last_day + timedelta(days=31)))

    with ctx.uow() as uow:  # one transaction: everything or nothing
        s = uow.session
        provider_rows = list(
            s.scalars(
                select(StaffUser)
                .where(
                    StaffUser.role.in_((Role.DENTIST.value, Role.HYGIENIST.value)),
                    StaffUser.active.is_(True),
                    StaffUser.deleted_at.is_(None),
                )
                .order_by(StaffUser.role, StaffUser.username)
            )
        )
        receptionist = s.scalar(
            select(StaffUser.id)
            .where(StaffUser.role == Role.RECEPTIONIST.value, StaffUser.active.is_(True))
            .order_by(StaffUser.username)
            .limit(1)
        ) or (ctx.actor.user_id if ctx.actor else None)
        for n, u in enumerate(provider_rows):
            if not u.provider_colour:
                u.provider_colour = _PROVIDER_PALETTE[n % len(_PROVIDER_PALETTE)]

        loc = Location(
            name=DEMO_LOCATION,
            time_zone=tz_name,
            address="120 Main St, Riverside (demo)",
            phone="+12125550142",
            grid_minutes=_GRID,
        )
        s.add(loc)
        s.flush()
        ops = [
            Operatory(location_id=loc.id, name=f"Op {n}", sort_order=n - 1, active=True)
            for n in range(1, DEMO_OPERATORIES + 1)
        ]
        types = {
            name: AppointmentType(
                name=name, default_minutes=minutes, colour=colour, default_procedures=codes, active=True
            )
            for name, minutes, colour, codes in _APPOINTMENT_TYPES
        }
        s.add_all([*ops, *types.values()])
        # the location's opening hours, then each provider's week and lunch
        for wd in range(5):
            s.add(
                WeeklyHoursRow(location_id=loc.id, provider_id=None, weekday=wd, start_local="08:00", end_local="17:00")
            )
        s.add(WeeklyHoursRow(location_id=loc.id, provider_id=None, weekday=5, start_local="08:00", end_local="13:00"))
        saturday_idx = next((i for i, u in enumerate(provider_rows) if u.username == SATURDAY_PROVIDER), 0)
        vacation_idx = next((i for i, u in enumerate(provider_rows) if u.username == VACATION_PROVIDER), None)
        for i, u in enumerate(provider_rows):
            for wd in range(5):
                s.add(
                    WeeklyHoursRow(
                        location_id=loc.id,
                        provider_id=u.id,
                        weekday=wd,
                        start_local=_hhmm(_WEEKDAY_SHIFT[0]),
                        end_local=_hhmm(_WEEKDAY_SHIFT[1]),
                    )
                )
                s.add(
                    ScheduleBlock(
                        location_id=loc.id,
                        provider_id=u.id,
                        kind="lunch",
                        weekday=wd,
                        start_local=_hhmm(_LUNCH[0]),
                        end_local=_hhmm(_LUNCH[1]),
                        note="Lunch",
                    )
                )
            if i == saturday_idx:
                s.add(
                    WeeklyHoursRow(
                        location_id=loc.id,
                        provider_id=u.id,
                        weekday=5,
                        start_local=_hhmm(_SATURDAY_SHIFT[0]),
                        end_local=_hhmm(_SATURDAY_SHIFT[1]),
                    )
                )
        if vacation_idx is not None:
            s.add(
                ScheduleBlock(
                    location_id=loc.id,
                    provider_id=provider_rows[vacation_idx].id,
                    kind="vacation",
                    starts_at=local_to_utc(vacation[0], time(0), tz),
                    ends_at=local_to_utc(vacation[1] + timedelta(days=1), time(0), tz),
                    note="Annual leave",
                )
            )
        for d in sorted(meetings):
            s.add(
                ScheduleBlock(
                    location_id=loc.id,
                    kind="meeting",
                    starts_at=local_to_utc(d, time(_MEETING[0] // 60), tz),
                    ends_at=local_to_utc(d, time(_MEETING[1] // 60), tz),
                    note="Monthly staff meeting",
                )
            )
        recall_types = {
            "PROPHY": RecallType(code="PROPHY", name="Recall & cleaning", interval_months=6, appointment_type_id=None),
            "PERIO": RecallType(code="PERIO", name="Perio maintenance", interval_months=3, appointment_type_id=None),
            "BW": RecallType(code="BW", name="Bitewing X-rays", interval_months=12, appointment_type_id=None),
        }
        s.add_all(
            [
                ReminderRule(kind="appointment", offset_minutes=2880, template_key="appointment_reminder", active=True),
                ReminderRule(kind="appointment", offset_minutes=120, template_key="appointment_reminder", active=True),
                ReminderRule(kind="recall", offset_minutes=20160, template_key="recall_due", active=True),
            ]
        )
        s.flush()  # ids for the types, chairs and recall types
        recall_types["PROPHY"].appointment_type_id = types["Recall & cleaning"].id
        recall_types["PERIO"].appointment_type_id = types["Perio maintenance"].id
        recall_types["BW"].appointment_type_id = types["Recall & cleaning"].id
        s.add_all(recall_types.values())
        s.flush()

        patient_ids = list(
            s.scalars(
                select(Patient.id)
                .where(Patient.deleted_at.is_(None), Patient.archived_at.is_(None))
                .order_by(cast(Patient.chart_no, Integer))
            )
        )
        lengths = {name: minutes for name, minutes, _, _ in _APPOINTMENT_TYPES}
        visits = _generate_visits(
            rng,
            provider_rows,
            len(ops),
            len(patient_ids),
            lengths,
            first_day,
            last_day,
            saturday_idx,
            vacation_idx,
            vacation,
            meetings,
        )
        counts = _insert_visits(
            s, rng, visits, now, today, tz, loc, ops, types, provider_rows, patient_ids, receptionist
        )
        counts.update(
            _insert_recalls(s, rng, visits, patient_ids, recall_types, today, now),
            providers_added=providers_added,
            operatories=len(ops),
            appointment_types=len(types),
            seed=seed,
        )
        from app.services import demo_chart  # it builds on this module

        # the charts follow the completed visits just inserted; their own stream keeps the book as it was
        counts.update(demo_chart.seed_charts(s, today=today, now=now, tz=tz, rng=random.Random(seed * 6151 + 29)))
        uow.audit("schedule.demo_seeded", entity_type="location", entity_id=loc.id, details=counts)
        uow.commit()
        return counts


def _generate_visits(
    rng: random.Random,
    providers: list[StaffUser],
    n_ops: int,
    n_patients: int,
    lengths: dict[str, int],
    first_day: date,
    last_day: date,
    saturday_idx: int,
    vacation_idx: int | None,
    vacation: tuple[date, date],
    meetings: set[date],
) -> list[_Visit]:
    """Each working day's bookings: providers' days filled, each visit in a free chair, a patient once a day."""
    visits: list[_Visit] = []
    if not providers or not n_ops or not n_patients:
        return visits
    mixes = [_DENTIST_MIX if u.role == Role.DENTIST.value else _HYGIENIST_MIX for u in providers]
    day = first_day
    while day <= last_day:
        wd = day.weekday()
        working = [] if wd == 6 else [saturday_idx] if wd == 5 else list(range(len(providers)))
        if vacation_idx is not None and vacation[0] <= day <= vacation[1]:
            working = [i for i in working if i != vacation_idx]
        chairs: list[list[tuple[int, int]]] = [[] for _ in range(n_ops)]
        seen: set[int] = set()
        for i in working:
            for start, minutes, name in _fill_day(
                rng, _free_segments(day, wd == 5, day in meetings), mixes[i], lengths
            ):
                end = start + minutes
                # each provider has a home chair; now and then the visit is in another one
                order = [i % n_ops] + [c for c in range(n_ops) if c != i % n_ops]
                if rng.random() < 0.08:
                    rng.shuffle(order)
                chair = next((c for c in order if all(e <= start or end <= s for s, e in chairs[c])), None)
                if chair is None:
                    continue
                patient = None
                for _ in range(12):
                    pick = rng.randrange(n_patients)
                    if pick not in seen:
                        patient = pick
                        break
                if patient is None:
                    continue
                seen.add(patient)
                chairs[chair].append((start, end))
                visits.append(_Visit(day, start, minutes, i, chair, patient, name))
        day += timedelta(days=1)
    return visits


def _insert_visits(
    s: Any,
    rng: random.Random,
    visits: list[_Visit],
    now: datetime,
    today: date,
    tz: ZoneInfo,
    loc: Location,
    ops: list[Operatory],
    types: dict[str, AppointmentType],
    providers: list[StaffUser],
    patient_ids: list[str],
    receptionist: str | None,
) -> dict[str, int]:
    """Appointments and their status changes as bulk inserts, with change-log rows."""
    stamp = now - timedelta(microseconds=2 * len(visits) + 10)
    appointments: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    by_status: Counter[str] = Counter()
    for n, v in enumerate(visits):
        v.id = new_id()
        v.starts_at = datetime.combine(v.day, time(v.start // 60, v.start % 60), tzinfo=tz).astimezone(UTC)
        v.ends_at = v.starts_at + timedelta(minutes=v.minutes)
        v.status = _outcome(rng, v.starts_at, v.ends_at, now, v.day == today)
        v.steps = _steps(rng, v, now)
        by_status[v.status] += 1
        at = stamp + timedelta(microseconds=2 * n)
        cancel = next((r for _f, t, _w, r in v.steps if t == "cancelled"), "")
        appointments.append(
            {
                **_sync_cols(v.id, at),
                "patient_id": patient_ids[v.patient],
                "provider_id": providers[v.provider].id,
                "operatory_id": ops[v.operatory].id,
                "location_id": loc.id,
                "appointment_type_id": types[v.type_name].id,
                "starts_at": v.starts_at,
                "ends_at": v.ends_at,
                "time_zone": loc.time_zone,
                "status": v.status,
                "note": "",
                "cancel_reason": cancel,
                "outside_hours_reason": "",
                "on_pinboard": False,
            }
        )
        provider_id = providers[v.provider].id
        for frm, to, when, reason in v.steps:
            by = provider_id if to in ("seated", "completed") else receptionist
            changes.append(
                {
                    **_sync_cols(new_id(), at + timedelta(microseconds=1)),
                    "appointment_id": v.id,
                    "from_status": frm,
                    "to_status": to,
                    "changed_by": by,
                    "changed_at": when,
                    "reason": reason,
                }
            )
    # latest first: the overlap trigger then finds only the few bookings already stored
    # that start before each new one ends, instead of scanning the whole history each time
    appointments.sort(key=lambda r: r["starts_at"], reverse=True)
    _bulk_insert(s, Appointment.__tablename__, appointments)
    _bulk_insert(s, AppointmentStatusChange.__tablename__, changes)
    log = _changes(Appointment.__tablename__, appointments) + _changes(AppointmentStatusChange.__tablename__, changes)
    _bulk_insert(s, ChangeLog.__tablename__, log)
    return {
        "appointments": len(appointments),
        "status_changes": len(changes),
        **{f"status_{k}": c for k, c in by_status.items()},
    }


def _insert_recalls(
    s: Any,
    rng: random.Random,
    visits: list[_Visit],
    patient_ids: list[str],
    recall_types: dict[str, RecallType],
    today: date,
    now: datetime,
) -> dict[str, int]:
    """Recalls for about 60% of patients, due from their last completed hygiene visit."""
    last_hygiene: dict[int, tuple[date, str]] = {}
    for v in visits:
        if v.status == "completed" and v.type_name in HYGIENE_TYPES and v.day <= today:
            seen = last_hygiene.get(v.patient)
            if seen is None or seen[0] < v.day:
                last_hygiene[v.patient] = (v.day, v.type_name)
    stamp = now - timedelta(microseconds=2 * len(patient_ids) + 10)
    rows: list[dict[str, Any]] = []
    for n, pid in enumerate(patient_ids):
        if rng.random() >= 0.6:
            continue
        at = stamp + timedelta(microseconds=2 * n)
        seen = last_hygiene.get(n)
        if seen is not None:
            last, type_name = seen
            code = "PERIO" if type_name == "Perio maintenance" else "PROPHY"
        else:
            # a patient not seen in the seeded year: the last cleaning was before it
            last = today - timedelta(days=HISTORY_DAYS + rng.randrange(1, 240))
            code = "PROPHY"
        picked = [code] + (["BW"] if rng.random() < 0.5 else [])
        for c in picked:
            rt = recall_types[c]
            due = add_months(last, rt.interval_months)
            contacted = (
                now - timedelta(days=rng.randrange(1, 20))
                if due <= today + timedelta(days=14) and rng.random() < 0.3
                else None
            )
            rows.append(
                {
                    **_sync_cols(new_id(), at),
                    "patient_id": pid,
                    "recall_type_id": rt.id,
                    "last_completed": last,
                    "due_date": due,
                    "contacted_at": contacted,
                }
            )
    _bulk_insert(s, PatientRecall.__tablename__, rows)
    _bulk_insert(s, ChangeLog.__tablename__, _changes(PatientRecall.__tablename__, rows))
    return {"patient_recalls": len(rows), "patients_with_recalls": len({r["patient_id"] for r in rows})}
