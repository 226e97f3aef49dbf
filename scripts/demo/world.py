"""The organisations and users of the Fujian demo world."""

from __future__ import annotations

from dataclasses import dataclass

from core.roles import HospitalGrade, OrgKind, Role

# Leading characters of a unified social credit code (GB 32100-2015): registration authority, then entity type.
GOVERNMENT_ORGAN = "11"  # 机构编制部门登记的机关
PUBLIC_INSTITUTION = "12"  # 机构编制部门登记的事业单位 (public hospitals, procurement centres)
ENTERPRISE = "91"  # 市场监管部门登记的企业


@dataclass(frozen=True)
class DemoOrg:
    """One organisation of the demo world; ``parent`` names its general hospital (总医院), if any."""

    name: str
    name_en: str
    kind: OrgKind
    uscc_prefix: str
    region_code: str
    region_name: str
    grade: HospitalGrade | None = None
    parent: str | None = None


PROCUREMENT_CENTRE = "福建省药械联合采购中心"
SANMING_ALLIANCE = "三明采购联盟办公室"
INSURANCE_BUREAU = "福建省医疗保障局"
XM_FIRST = "厦门大学附属第一医院"
XM_TCM = "厦门市中医院"
XM_JIMEI = "厦门市集美区第二医院"
SM_FIRST = "三明市第一医院"
SM_XINKOU = "三明市三元区莘口镇卫生院"
FZ_UNION = "福建医科大学附属协和医院"
FZ_CANGSHAN = "福州市仓山区医院"
MINHAI = "闽海制药有限公司"
LUJIANG = "鹭江药业有限公司"
SHAXI = "沙溪制药有限公司"
LUDAO = "鹭岛医药有限公司"
BAMIN = "八闽医药供应链有限公司"

# Real public bodies and hospitals give the demo a familiar setting; their grades are as the demo needs them, not an
# official register. The manufacturers and distributors are fictional. Every credit code is synthetic (see
# scripts.demo_data.org_uscc), so none of them identifies a real organisation.
ORGS: tuple[DemoOrg, ...] = (
    DemoOrg(INSURANCE_BUREAU, "Fujian Healthcare Security Administration", OrgKind.INSURANCE_BUREAU,
            GOVERNMENT_ORGAN, "350000", "福建省"),
    # The platform operator: holds the administrator.
    DemoOrg(PROCUREMENT_CENTRE, "Fujian Drug and Medical Device Joint Procurement Centre",
            OrgKind.PROCUREMENT_OFFICE, PUBLIC_INSTITUTION, "350000", "福建省"),
    # In Sanming the alliance is run from the city's insurance fund management centre (三明市医疗保障基金管理中心).
    DemoOrg(SANMING_ALLIANCE, "Sanming Procurement Alliance Office", OrgKind.PROCUREMENT_OFFICE,
            PUBLIC_INSTITUTION, "350400", "三明市"),
    DemoOrg(XM_FIRST, "The First Affiliated Hospital of Xiamen University", OrgKind.HOSPITAL,
            PUBLIC_INSTITUTION, "350200", "厦门市", HospitalGrade.G3A),
    DemoOrg(XM_TCM, "Xiamen Hospital of Traditional Chinese Medicine", OrgKind.HOSPITAL,
            PUBLIC_INSTITUTION, "350200", "厦门市", HospitalGrade.G3A),
    DemoOrg(XM_JIMEI, "Xiamen Jimei District Second Hospital", OrgKind.HOSPITAL,
            PUBLIC_INSTITUTION, "350211", "厦门市集美区", HospitalGrade.G2A),
    # A general hospital (总医院) of a Sanming medical community and one of its member units (rulebook 0.4).
    DemoOrg(SM_FIRST, "Sanming First Hospital", OrgKind.HOSPITAL,
            PUBLIC_INSTITUTION, "350400", "三明市", HospitalGrade.G3A),
    DemoOrg(SM_XINKOU, "Xinkou Township Health Centre, Sanyuan District, Sanming", OrgKind.HOSPITAL,
            PUBLIC_INSTITUTION, "350404", "三明市三元区", HospitalGrade.G1A, parent=SM_FIRST),
    # The lead hospital of a hospital-led purchasing alliance (药共体, rulebook 0.6) and a district member.
    DemoOrg(FZ_UNION, "Fujian Medical University Union Hospital", OrgKind.HOSPITAL,
            PUBLIC_INSTITUTION, "350100", "福州市", HospitalGrade.G3A),
    DemoOrg(FZ_CANGSHAN, "Fuzhou Cangshan District Hospital", OrgKind.HOSPITAL,
            PUBLIC_INSTITUTION, "350104", "福州市仓山区", HospitalGrade.G2A),
    DemoOrg(MINHAI, "Minhai Pharmaceutical Co., Ltd.", OrgKind.MANUFACTURER, ENTERPRISE, "350100", "福州市"),
    DemoOrg(LUJIANG, "Lujiang Pharmaceutical Co., Ltd.", OrgKind.MANUFACTURER, ENTERPRISE, "350200", "厦门市"),
    DemoOrg(SHAXI, "Shaxi Pharmaceutical Co., Ltd.", OrgKind.MANUFACTURER, ENTERPRISE, "350400", "三明市"),
    DemoOrg(LUDAO, "Ludao Pharmaceutical Distribution Co., Ltd.", OrgKind.DISTRIBUTOR, ENTERPRISE,
            "350200", "厦门市"),
    DemoOrg(BAMIN, "Bamin Pharmaceutical Supply Chain Co., Ltd.", OrgKind.DISTRIBUTOR, ENTERPRISE,
            "350100", "福州市"),
)  # fmt: skip

ROLE_LABELS: dict[Role, str] = {
    Role.ADMIN: "Admin 平台管理员",
    Role.ORGANISER: "Organiser 采购组织",
    Role.AUDITOR: "Auditor 医保审核",
    Role.SUPPLIER_REP: "Supplier rep 企业代表",
    Role.PHARMACY_MANAGER: "Pharmacy manager 药剂科主任",
    Role.PHARMACIST: "Pharmacist 药师",
}


@dataclass(frozen=True)
class DemoUser:
    """One demo login, as printed by ``python -m scripts.manage demo-logins``."""

    username: str
    display_name: str
    org_name: str
    roles: tuple[Role, ...]
    role_label: str


def _user(username: str, display_name: str, org_name: str, role: Role, label: str | None = None) -> DemoUser:
    return DemoUser(username, display_name, org_name, (role,), label or ROLE_LABELS[role])


def _pharmacy(prefix: str, org_name: str, pharmacist: str, manager: str) -> tuple[DemoUser, DemoUser]:
    return (
        _user(f"{prefix}.pharmacist", pharmacist, org_name, Role.PHARMACIST),
        _user(f"{prefix}.manager", manager, org_name, Role.PHARMACY_MANAGER),
    )


# The people are fictional.
USERS: tuple[DemoUser, ...] = (
    _user("admin", "郑海峰", PROCUREMENT_CENTRE, Role.ADMIN),
    _user("fj.organiser", "黄丽萍", PROCUREMENT_CENTRE, Role.ORGANISER, "Organiser 省级集采"),
    _user("sm.organiser", "詹建华", SANMING_ALLIANCE, Role.ORGANISER, "Organiser 三明联盟"),
    _user("xh.organiser", "王立新", FZ_UNION, Role.ORGANISER, "Organiser 药共体牵头"),
    _user("auditor", "刘文清", INSURANCE_BUREAU, Role.AUDITOR),
    *_pharmacy("xm1", XM_FIRST, "陈晓燕", "林国栋"),
    *_pharmacy("xmzy", XM_TCM, "吴秀琴", "苏明辉"),
    *_pharmacy("jm2", XM_JIMEI, "洪雅婷", "蔡志强"),
    *_pharmacy("sm1", SM_FIRST, "罗春兰", "邓永红"),
    *_pharmacy("xinkou", SM_XINKOU, "肖美玲", "朱德明"),
    *_pharmacy("xh", FZ_UNION, "张静怡", "李振华"),
    *_pharmacy("cs", FZ_CANGSHAN, "杨丽娟", "叶建明"),
    _user("minhai.rep", "何俊杰", MINHAI, Role.SUPPLIER_REP),
    _user("lujiang.rep", "许丽华", LUJIANG, Role.SUPPLIER_REP),
    _user("shaxi.rep", "曾宏伟", SHAXI, Role.SUPPLIER_REP),
    _user("ludao.rep", "谢晓东", LUDAO, Role.SUPPLIER_REP),
    _user("bamin.rep", "游佳琪", BAMIN, Role.SUPPLIER_REP),
)
