"""Synthetic demo data: staff of every role and a clinic's worth of made-up patients.

Everything here is invented: names are drawn from built-in lists, phone numbers sit in the
fictional 555-01xx range, emails are at example.org/.com/.net and notes say "Synthetic".
Patients are bulk-inserted (10,000 in a few seconds) with their change-log rows, so a later
sync pushes them like any other local change.
"""

import random
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Integer, cast, func, select

from app.db.models import Base, ChangeLog, MedicalAlert, Patient, PatientInsurance, StaffUser
from app.db.types import utcnow
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


def _age_on(dob: date, today: date) -> int:
    return today.year - dob.year - ((today.month, today.day) < (dob.month, dob.day))


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
        age = _age_on(dob, self.today)
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


def seed(runtime: ClinicRuntime, *, patients: int, staff_password: str, seed: int = 2026) -> None:
    """Fill a new clinic with demo staff (password `staff_password`) and `patients` patients."""
    ctx = _admin_ctx(runtime)
    staff_added = _seed_staff(ctx, staff_password)
    today = date.today()
    info = runtime.info
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
