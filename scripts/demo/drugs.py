"""The demo drug catalogue: real generic drugs in dosage forms, strengths and packs marketed in China."""

from __future__ import annotations

from dataclasses import dataclass

from scripts.demo.world import LUJIANG, MINHAI, SHAXI


@dataclass(frozen=True)
class DemoDrug:
    """One catalogue product; ``atc`` (level 4) and ``initial`` (pinyin of the generic name) feed its 医保编码."""

    generic_name: str
    generic_name_en: str
    dosage_form: str
    strength: str
    pack_quantity: int
    unit: str
    package_spec: str
    atc: str
    initial: str
    maker: str
    gqce_passed: bool = True  # 通过仿制药质量和疗效一致性评价
    essential: bool = False  # 国家基本药物目录 (2018)
    key_monitored: bool = False  # 第一批国家重点监控合理用药药品目录 (2019)
    mah: str | None = None  # 上市许可持有人 when another company makes the drug for it (委托生产); else the maker


ESSENTIAL = {"essential": True}
# Key-monitored drugs are adjuvant injections without a consistency evaluation; they drive the monitoring demos.
MONITORED = {"key_monitored": True, "gqce_passed": False}

DRUGS: tuple[DemoDrug, ...] = (
    # 闽海制药: cardiovascular
    DemoDrug("阿托伐他汀钙片", "Atorvastatin Calcium Tablets", "片剂", "10mg", 28, "片", "10mg×7片×4板",
             "C10AA", "A", MINHAI, **ESSENTIAL),
    DemoDrug("阿托伐他汀钙片", "Atorvastatin Calcium Tablets", "片剂", "20mg", 7, "片", "20mg×7片",
             "C10AA", "A", MINHAI, **ESSENTIAL),
    DemoDrug("瑞舒伐他汀钙片", "Rosuvastatin Calcium Tablets", "片剂", "10mg", 14, "片", "10mg×7片×2板",
             "C10AA", "R", MINHAI, **ESSENTIAL),
    DemoDrug("硫酸氢氯吡格雷片", "Clopidogrel Bisulfate Tablets", "片剂", "75mg", 7, "片", "75mg×7片",
             "B01AC", "L", MINHAI, **ESSENTIAL),
    DemoDrug("替格瑞洛片", "Ticagrelor Tablets", "片剂", "90mg", 14, "片", "90mg×14片", "B01AC", "T", MINHAI),
    DemoDrug("苯磺酸氨氯地平片", "Amlodipine Besylate Tablets", "片剂", "5mg", 28, "片", "5mg×7片×4板",
             "C08CA", "A", MINHAI, **ESSENTIAL),
    DemoDrug("硝苯地平控释片", "Nifedipine Controlled-release Tablets", "控释片", "30mg", 7, "片", "30mg×7片",
             "C08CA", "X", MINHAI, **ESSENTIAL),
    DemoDrug("氯沙坦钾片", "Losartan Potassium Tablets", "片剂", "50mg", 14, "片", "50mg×7片×2板",
             "C09CA", "L", MINHAI, **ESSENTIAL),
    DemoDrug("缬沙坦胶囊", "Valsartan Capsules", "胶囊剂", "80mg", 28, "粒", "80mg×7粒×4板",
             "C09CA", "X", MINHAI, **ESSENTIAL),
    DemoDrug("厄贝沙坦片", "Irbesartan Tablets", "片剂", "0.15g", 28, "片", "0.15g×7片×4板",
             "C09CA", "E", MINHAI, **ESSENTIAL),
    DemoDrug("富马酸比索洛尔片", "Bisoprolol Fumarate Tablets", "片剂", "5mg", 10, "片", "5mg×10片",
             "C07AB", "B", MINHAI, **ESSENTIAL),
    DemoDrug("琥珀酸美托洛尔缓释片", "Metoprolol Succinate Sustained-release Tablets", "缓释片", "47.5mg", 7, "片",
             "47.5mg×7片", "C07AB", "M", MINHAI, **ESSENTIAL),
    # 鹭江药业: diabetes, hepatitis B, oncology, respiratory
    DemoDrug("盐酸二甲双胍片", "Metformin Hydrochloride Tablets", "片剂", "0.5g", 60, "片", "0.5g×20片×3板",
             "A10BA", "E", LUJIANG, **ESSENTIAL),
    DemoDrug("格列美脲片", "Glimepiride Tablets", "片剂", "2mg", 30, "片", "2mg×15片×2板",
             "A10BB", "G", LUJIANG, **ESSENTIAL),
    DemoDrug("阿卡波糖片", "Acarbose Tablets", "片剂", "50mg", 30, "片", "50mg×30片", "A10BF", "A", LUJIANG,
             **ESSENTIAL),
    DemoDrug("达格列净片", "Dapagliflozin Tablets", "片剂", "10mg", 14, "片", "10mg×14片", "A10BK", "D", LUJIANG),
    DemoDrug("恩替卡韦片", "Entecavir Tablets", "片剂", "0.5mg", 28, "片", "0.5mg×7片×4板",
             "J05AF", "E", LUJIANG, **ESSENTIAL),
    DemoDrug("富马酸替诺福韦二吡呋酯片", "Tenofovir Disoproxil Fumarate Tablets", "片剂", "300mg", 30, "片",
             "300mg×30片/瓶", "J05AF", "T", LUJIANG, **ESSENTIAL),
    DemoDrug("吉非替尼片", "Gefitinib Tablets", "片剂", "0.25g", 10, "片", "0.25g×10片", "L01EB", "J", LUJIANG,
             **ESSENTIAL),
    DemoDrug("甲磺酸伊马替尼片", "Imatinib Mesylate Tablets", "片剂", "0.1g", 60, "片", "0.1g×10片×6板",
             "L01EA", "Y", LUJIANG, **ESSENTIAL),
    DemoDrug("利伐沙班片", "Rivaroxaban Tablets", "片剂", "10mg", 5, "片", "10mg×5片", "B01AF", "L", LUJIANG,
             mah=MINHAI),
    DemoDrug("孟鲁司特钠片", "Montelukast Sodium Tablets", "片剂", "10mg", 5, "片", "10mg×5片", "R03DC", "M", LUJIANG,
             **ESSENTIAL),
    DemoDrug("奥美拉唑肠溶胶囊", "Omeprazole Enteric-coated Capsules", "肠溶胶囊", "20mg", 14, "粒", "20mg×14粒",
             "A02BC", "A", LUJIANG, **ESSENTIAL),
    DemoDrug("磷酸奥司他韦胶囊", "Oseltamivir Phosphate Capsules", "胶囊剂", "75mg", 10, "粒", "75mg×10粒",
             "J05AH", "A", LUJIANG, **ESSENTIAL),
    # 沙溪制药: anti-infectives, psychiatry and neurology, injections
    DemoDrug("注射用泮托拉唑钠", "Pantoprazole Sodium for Injection", "注射剂", "40mg", 1, "瓶", "40mg×1瓶",
             "A02BC", "P", SHAXI),
    DemoDrug("头孢呋辛酯片", "Cefuroxime Axetil Tablets", "片剂", "0.25g", 12, "片", "0.25g×6片×2板",
             "J01DC", "T", SHAXI, **ESSENTIAL),
    DemoDrug("左氧氟沙星片", "Levofloxacin Tablets", "片剂", "0.5g", 4, "片", "0.5g×4片", "J01MA", "Z", SHAXI,
             **ESSENTIAL),
    DemoDrug("阿奇霉素片", "Azithromycin Tablets", "片剂", "0.25g", 6, "片", "0.25g×6片", "J01FA", "A", SHAXI,
             **ESSENTIAL),
    DemoDrug("注射用头孢曲松钠", "Ceftriaxone Sodium for Injection", "注射剂", "1.0g", 1, "瓶", "1.0g×1瓶",
             "J01DD", "T", SHAXI, essential=True, gqce_passed=False),
    DemoDrug("注射用美罗培南", "Meropenem for Injection", "注射剂", "0.5g", 1, "瓶", "0.5g×1瓶", "J01DH", "M", SHAXI),
    DemoDrug("草酸艾司西酞普兰片", "Escitalopram Oxalate Tablets", "片剂", "10mg", 14, "片", "10mg×7片×2板",
             "N06AB", "A", SHAXI),
    DemoDrug("盐酸舍曲林片", "Sertraline Hydrochloride Tablets", "片剂", "50mg", 14, "片", "50mg×14片",
             "N06AB", "S", SHAXI),
    DemoDrug("奥氮平片", "Olanzapine Tablets", "片剂", "10mg", 7, "片", "10mg×7片", "N05AH", "A", SHAXI,
             **ESSENTIAL),
    DemoDrug("阿立哌唑片", "Aripiprazole Tablets", "片剂", "5mg", 20, "片", "5mg×10片×2板", "N05AX", "A", SHAXI,
             **ESSENTIAL),
    DemoDrug("盐酸多奈哌齐片", "Donepezil Hydrochloride Tablets", "片剂", "5mg", 7, "片", "5mg×7片",
             "N06DA", "D", SHAXI),
    DemoDrug("注射用磷酸肌酸钠", "Creatine Phosphate Sodium for Injection", "注射剂", "1.0g", 1, "瓶", "1.0g×1瓶",
             "C01EB", "L", SHAXI, **MONITORED),
    DemoDrug("依达拉奉注射液", "Edaravone Injection", "注射剂", "20ml:30mg", 1, "支", "20ml:30mg×1支",
             "N07XX", "Y", SHAXI, **MONITORED),
)  # fmt: skip
