"""The hand-checked selection `train_set.py` copies: the pinned packages and, per package, which files go in
under which label and kind, and which were left out.

What is in it, and why:
- photo: Endless Sky's planet landscapes (deserts, coasts, mountains, skies, cities by day and night, launch pads,
  space-station interiors; two crops each, and up to four more crops of the same photographs at twice the resolution
  from endless-sky-high-dpi, one source with them) and its wartime factory scenes, KPhotoAlbum's demo album (people,
  pets, bars, a pool hall), the coins and other photographic Tux Paint stamps the development set lacks, Pioneers'
  Iceland hexes, the GIMP manual's tutorial photographs and the unfiltered originals of its filter examples (the Taj
  Mahal, a squirrel, daisies, a rose, a car, a castle, a park), scikit-learn's, Ren'Py's, Ultralytics' and
  Matplotlib's sample photographs; Lomiri's photographic wallpapers (landscapes, a room, a dog, birds, objects; up to
  six 1024 px crops each), Tux Paint's photographic templates (coasts, forests, bark, rocks, sheep, jellyfish),
  Kalzium's photographs of lab tools, Hugin's manual photographs and their panoramic projections (churches, streets, a
  kitchen), scikit-image's sample photographs (astronaut, cameraman, coffee, cat, coins), FreeCol's photograph of
  Geronimo; the Scribus templates' food (pizza, teriyaki), moon, canyon, sunset, kite and portrait photographs, the
  Maldives SDDM theme's beach, digiKam's lake and PyChess's chess pieces (crops).
- cartoon: openclipart (all of its drawing folders; icon, shape, sign, map and pattern folders left out), Flare's
  digitally painted portraits, Warmux's drawn level previews, Kenney's characters and items from arcade, Tux Paint
  drawn stamps and ASL hands, Pingus's line-art story pages, Ardentryst's anime faces and painted intro scenes,
  Ren'Py's visual-novel sprites, Teeworlds' drawn backgrounds; Tux Paint's line-art colouring starters, Lomiri's and
  UKUI's digitally painted wallpapers (a fossa, a calla, a goldfish, a desert); Warmux's large drawn level backdrops
  and terrains (whole, and up to nine 768 px crops each), FreeCol's painted and engraved portraits (founding fathers,
  monarchs) and engraved scenes, ULCC's clip-art animals, furniture and professions, Plee the Bear's drawn intro and
  title scenes, Flare's painted menu backgrounds; Unknown Horizons' marine oil paintings (whole, and up to fifteen
  crops each), LordsAWar's digitally painted portraits and scenes, Amoebax's cartoon characters and backdrops,
  Pekka Kana 2's painted meadows, Raincat's painted sky and cat, Pingus's drawn icebergs, penguin sketches and tree,
  Teeworlds' backgrounds also as crops.

Left out (checked by eye): 3D renders (Naev's ships and planets, Warmux's block levels, Kenney's isometric tiles),
sprite sheets and tiles, UI pieces, screenshots and texts, collages (Ren'Py's drawn band on a photograph), astronomy
pictures (Tux Typing's backgrounds), Endless Sky's photo-manipulated cities and false-colour probe pictures, Fish
Fillets' near-monochrome backgrounds, openclipart's traced photographs, missing linked images and near-empty pages,
letters and currency glyphs among the Tux Paint stamps; Tux Paint's traced-photograph starters, maps, grids, jigsaws
and frames; Hugin's screenshots, diagrams, side-by-sides and a cube-map cross; the abstract wallpapers (GNOME, UKUI,
Lomiri, Xfce); scikit-image's textures, astronomy, microscopy and synthetic pictures; nearly featureless crops
(luminance spread under 12, or a smooth gradient: bare skies, fog; for drawings also crops that are mostly one flat
tone, i.e. empty margins); Warmux's gradient skies, near-empty layers and 3D-looking levels (construction, hive,
pillars, towers, tic-tac-toe, moon); the GIMP manual's filtered, blended and tone-mapped versions; FreeCol's sprites,
tiles, maps and document scans; ULCC's near-photographic tiger; half of openclipart's unsorted folder (to keep
openclipart under 40 % of the set).

Looked at and not taken: Zaz's and Blob Wars' 3D-rendered levels, Pekka Kana 2's dark textures, CaveExpress's sprite
sheets, Gigalomania's isometric renders, fotoxx's screenshots and side-by-sides, Tux Paint's remaining letters and ASL
hands, Ren'Py's icon, Lomiri's photographs cut finer than 1024 px (too many featureless crops), Brain Party's UI
screens, Debian's abstract desktop themes, Krita's textures and brush-tip pictures, Frozen Bubble's UI panels, Tux
Math's astronomy pictures, the card decks of KDE and AisleRiot (SVG, their cards do not render one by one), Fish
Fillets' tinted backgrounds.
"""

from __future__ import annotations

from dataclasses import dataclass

from imageset import Package

PACKAGES = {
    p.name: p
    for p in (
        Package("endless-sky-data", "0.9.8-1.2"),
        Package("kphotoalbum", "5.9.1-1"),
        Package("python3-sklearn", "1.2.1+dfsg-1"),
        Package("renpy-demo", "8.0.3+dfsg-1"),
        Package("flare-game", "1.14-1"),
        Package("pingus-data", "0.7.6-5.1"),
        Package("ardentryst", "1.71-9"),
        Package("python-matplotlib-data", "3.6.3-1"),
        Package("gimp-help-en", "2.10.34-2"),
        Package("tuxpaint-stamps-default", "2022.06.04-1"),
        Package("pioneers-data", "15.6-1"),
        Package("openclipart-png", "1:0.18+dfsg-19", collection="openclipart-svg"),
        Package("warmux-data", "1:11.04.1+repack2-4"),
        Package("teeworlds-data", "0.7.5-2"),
        Package("ultralytics", "8.3.0", "pypi", "3137c4921c18c8ddf610f64f1badc2dad2a9fd182e10218c2bbb29caee308b9e"),
        Package("arcade", "2.6.17", "pypi", "eee7fcbb1384bf5964f4bb796d234896573045139cd297b0a482b63a9e905c2f"),
        Package("lomiri-wallpapers-16.04", "20.04.0-2"),
        Package("lomiri-wallpapers-20.04", "20.04.0-2"),
        Package("ukui-wallpapers", "20.04.3-1.1"),
        Package("tuxpaint-data", "1:0.9.28-sdl2-1"),
        Package("kalzium-data", "4:22.12.3-1"),
        Package("python3-skimage", "0.19.3-8"),
        Package("hugin-data", "2022.0.0+dfsg-2"),
        Package("endless-sky-high-dpi", "0.9.8-1", collection="endless-sky-data"),
        Package("freecol", "1.0.0-1"),
        Package("ulcc", "1.0.2-3"),
        Package("plee-the-bear-data", "0.6.0-8"),
        Package("unknown-horizons", "2019.1-6"),
        Package("lordsawar-data", "0.3.2+frogknows-1"),
        Package("amoebax-data", "0.2.1+dfsg-6"),
        Package("pekka-kana-2-data", "1.2.7-1"),
        Package("raincat-data", "1.1.1.2-4"),
        Package("sddm-theme-maldives", "0.19.0-5"),
        Package("scribus-template", "1.2.4.1-6"),
        Package("digikam-data", "4:7.9.0-1"),
        Package("pychess", "1.0.3-1"),
    )
}


@dataclass(frozen=True)
class Pick:
    """Files of one package for one label and kind: ``pattern`` is a glob under the unpacked package;
    ``every``/``start`` keep every n-th match of the sorted list; ``drop`` names file stems left out (checked
    by eye); ``crop`` > 0 cuts each picture into at most ``most`` squares of about that many pixels."""

    label: str
    kind: str
    package: str
    pattern: str
    every: int = 1
    start: int = 0
    drop: tuple[str, ...] = ()
    crop: int = 0
    most: int = 6


ES = "usr/share/games/endless-sky/images/land/"
ES_SCENE = "usr/share/games/endless-sky/images/scene/"
MPL = "usr/share/matplotlib/mpl-data/sample_data/"
ES_ODD = (  # photo-manipulated cities, false-colour probe pictures, an abstract light tunnel, odd tints
    "city13-sfiera", "city14-sfiera", "city15-sfiera", "city16-sfiera", "city17-sfiera", "nasa8", "nasa9",
    "space6", "water6",
)  # fmt: skip
ES_ODD_HD = tuple(f"{name}@2x" for name in ES_ODD)
ES_KINDS = {
    "city": "photo_street",
    "mfield": "photo_night",
    "sky": "photo_sky",
    "nasa": "photo_object",
    "space": "photo_room",
    "station": "photo_room",
    "loc": "photo_room",
    "industrial": "photo_night",
}
LANDSCAPES = (
    "badlands", "beach", "bwerner", "canyon", "desert", "dmottl", "dune", "earthrise", "fields", "fog", "forest",
    "hills", "lava", "mountain", "myrabella", "sea", "snow", "valley", "water",
)  # fmt: skip
KP = "usr/share/kphotoalbum/demo/"
TUX = "usr/share/tuxpaint/stamps/"
TUX_PHOTOS = (  # photographic stamps the development set does not have (it has most others)
    "clownfish", "bradley_mirror", "grave-h", "grave-j", "apollo_lander", "dumper_mirror", "7spoke256",
)  # fmt: skip
TUX_DRAWN = (  # drawn stamps the development set does not have; letters, flags, bare shapes and staves left out
    "hedgehog", "button", "feathered_hat", "tophat", "t_baseballcap", "t_glove", "t_jacket", "t_pants", "t_poloshirt",
    "t_scarf", "t_shirt", "t_sock", "pizza", "tooth", "eye", "Santa", "candy_cane", "tree", "bluebird", "bunny-egg",
    "bunny-head", "bunny", "butterfly", "chick-hatched", "chick-in-egg", "chick", "daffodil", "jackolantern_mean",
    "dreydl", "dreydl-gimmel", "menorah", "clockface", "crossroads", "give_way_sign", "hospital", "roundabout",
    "school_sign", "toilets", "xing_ped", "xing_school", "yield", "t-junction", "stoplight_01_red", "recycle",
    "inukshuk-outline", "tender_mirror", "tugboat_mirror", "chineseJunk", "scream_balloon", "thought_balloon",
)  # fmt: skip
GIMP = "usr/share/gimp/2.0/help/en/images/tutorials/"
GIMP_IMAGES = "usr/share/gimp/2.0/help/en/images/"
GIMP_ORIGINALS = {  # the unfiltered photographs the filter examples start from (not the filtered ones)
    "photo_street": "filters/examples/taj_orig.jpg",
    "photo_object": "{filters/examples/{distort/spherize-ex-orig,blur/mean_curvature-ex-1},"
    "tutorials/quickie-jpeg-100}.jpg",
    "photo_animal": "filters/examples/light-and-shadow/vignette-ex-orig.jpg",
    "photo_landscape": "{filters/examples/map/{little_planet,pan-project}-origin,tutorials/quickie-scale-example}.jpg",
}
GIMP_TONES = ("apple-orchard-truck-from-camera", "power-lines")  # not the before/after pair
RENPY = "usr/share/games/renpy/demo/game/images/"
FLARE = "usr/share/games/flare/mods/fantasycore/images/portraits/"
ARDENT = "usr/share/games/ardentryst/Data/"
PIONEERS = "usr/share/games/pioneers/themes/"
CLIPART = "usr/share/openclipart/png/"
CLIPART_PARTS = (  # not computer, shapes, signs_and_symbols, logos, buttons, geography: icons, symbols, maps;
    # unsorted: every other file only (below), to keep openclipart under 40 % of the set
    "animals", "buildings", "containers", "decorations", "education", "electronics", "food", "office", "people",
    "plants", "recreation", "science", "special", "tools", "transportation",
)  # fmt: skip
CLIPART_ODD = (  # checked by eye: a missing linked image, mostly text, near-empty pages, traced photographs
    "patterns", "aiga-symbols", "stylized_yoga_person_ger_*", "bullet_hole_*", "redcar*", "duck_yellow_ii_kurt_cagl_",
    "diamante_illuminati_ingo_", "logaritmic_diagram_01", "milimetered_paper_01", "a_man_singing_01",
    "jacob_leisler_mo_01", "elfish_girl_mo1", "grandpa_01", "jazz_enrique_meza_c_02", "martin_luther_king_jr._h_01",
    "wedding_sign_theerud_law_01", "simple_five_pettle_daff_01", "pong_01", "christmas_light_jasper_v_01",
    "creation_day_7_number_ge_04", "shi_ken_01", "bucket_michael_moore_", "magnifying_glass_olivier_01",
    "skoda_car_alejandro_teja_", "_chevrolet_celebirt_", "shelby_cobra_blueprint_i_01", "generic_ticket_ryan_phil_01",
    "md_costea_bogdan_", "ms_01", "profilo_della_citta", "roman_lumen_design_studi_", "splatter_linda_kim_r",
    "tavola_esame_ottico", "texturelegno", "wet_paint_sign_gerald_g._01", "tux_didier_fabert_01",
    "filmphoto1_fudriot_omic._01", "fruitcollection_leif_lod_07", "numero_verde_angelo_gelm_01",
    "a_boy_plays_soccer_01",
    "a_youngster_01", "breakdance_juliane_krug_01", "elfish_girl_mo_", "fireman_enrique_meza_c_01", "golf_drive_ganson",
    "handstand_andrew_fitzsim_01", "john_coltrane_portrait_j_01", "martin_luther_king_jr._h_02",
    "mountain_dulcimer_terry_", "cdfrontcover_openclipar_01", "simple_shovel_jeff_simps_01", "shelby_cobra_car_bluepr_",
    "alerta_for_manuals_01", "formulario_architetto_fr_01", "griglia_architetto_franc_01",
    "van_gogh_s_sun_flower_en_01", "what_have_you_done_dani_", "mechorse", "turtle_jurgen_gaeremyn_01",
    "carnegie_library_building_01", "house_fudriot_omic.ch_01", "open_bible_01_01", "saku_robot__anton_yu_01",
    "video_cassette_vhs_mo_", "lime_half_jarno_vasamaa_", "lightbulb_sketch_erich_s_01", "a_happy_boy_01",
    "ballerina_architetto_fra_01", "blacksmiti_ganson", "enthusiast", "martin_luther_king_jr._h_03", "silvia_01",
    "air_stefan_bazelkov_01", "fire_stefan_bazelkov_01", "splash_stefan_bazelkov_01", "footprints_in_sand_ganson",
    "headphones_davide_pesent_", "creation_day_7_number_ge_01", "anelli_architetto_france_01", "judo_brice_boyer_01",
    "cdlabel_openclipart_c_01", "hideaway", "poster-example_01", "vacuum_cleaner_mariusz_k_01", "shield_matt_todd_01",
    "mr_lakshman_poonyth_", "otto_needs_you_01", "pavement_frouke_01",
)  # fmt: skip
WARMUX = "usr/share/games/warmux/map/"
WARMUX_ODD = ("crystal", "pillars", "moon-4m", "towers", "randomamoebas", "randomisland")  # 3D-looking, texts
WARMUX_LAYERS = (  # drawn backdrops and terrains; not the gradients, near-empty layers, 3D-looking blocks
    "abyss/foreground.png", "apocalypse/apocalypse.png", "aquarium/background.png", "arbre/arbre.png",
    "arcaderoom/map.png", "bankiz/{bankiz.png,sky.jpg}", "banquise/{background.jpg,banquise.png}",
    "battlenight/battlenight-fg.png", "birds/{map.png,one_layer_sky.jpg}", "champignon/background.png",
    "cheese/emmental.png", "country/{map.png,sky.jpg}", "easterisland/map.png",
    "electronik/background.png", "farm/{map.png,one_layer_sky.jpg}", "frog/map.png", "funky_island/island.png",
    "goodandevil/{goodandevil.png,sky.jpg}", "greehills/greenhills.png", "halloween/{map.png,sky.jpg}",
    "hell/hell.png", "icebergs/map.png", "island/{island.png,sky.jpg}", "junglemountain/{drseuss.jpg,dseuss_fg.png}",
    "leafs/front.png", "lonely_island/{map.png,sky.jpg}", "monkeybubble/{map.png,one_layer_sky.jpg}",
    "ninja/{map.png,one_layer_sky.jpg}", "oktopus/map.png", "paint/map.png",
    "paradis/decor_paradis.png", "pirates/pirates.png", "prehistorik/prehistorik.png",
    "pumpkins/{map.png,sky.jpg}", "qingqong/qingqong.png", "randomisland/sky.jpg", "snow/{map.png,one_layer_sky.jpg}",
    "space2/{map.png,sky.jpg}", "vulcano/sky2.jpg", "wildwestdv/{map.png,sky.jpg}",
)  # fmt: skip
ES_HD = "usr/share/games/endless-sky/plugins/endless-sky-high-dpi/images/land/"
FREECOL = "usr/share/games/freecol/default/resources/images/"
FREECOL_PAINTED = (  # painted and engraved portraits and scenes; Geronimo's is a photograph
    "foundingFathers/*.size6.jpg", "monarch/{atahualpa,charles,elizabeth,felipe,frederik,louis,louis2,manuel,"
    "moctezuma,philip,pierre,segoyewatha,taoyateduta,wahktageli,william}.png",
    "ui/{meet_natives,meet_aztec,landing,meet_inca,discovery,military}.png",
)  # fmt: skip
ULCC = "usr/share/ulcc/dictionaries/*/images/*"
PLEE = "usr/share/games/plee-the-bear/gfx/"
UH = "usr/share/unknown-horizons/content/gui/images/background/mainmenu/"
LORDSAWAR = "usr/share/games/lordsawar/various/"
AMOEBAX = "usr/share/games/amoebax/graphics/"
AMOEBAX_PEOPLE = "Angus,Brooke,Ed,Gary,K.Quita,Kerberos,Kim,Lem,Mr.Bones,Nicholas,Pen,Sasha,Spike,Tom"
PK2 = "usr/share/games/pekka-kana-2/data/"
PK2_SCENERY = "field2_e,field3_d,field4_d,field4_m,field4_n,field_d3,meadow_n"  # not the dark textures
PINGUS = "usr/share/games/pingus/data/images/"
RAINCAT = "usr/share/games/raincat/data/"
SCRIBUS = "usr/share/scribus/templates/"
ARCADE = "arcade/resources/images/"
WALL = "usr/share/backgrounds/"
LOMIRI_KINDS = {
    "photo_landscape": "{aitzgorri,sunset,picosdeeuropa,life}_by_Aitzol_Berasategi,seeding_by_Clements_Engelhardt",
    "photo_object": "Picture_{1A,0B}_by_freespace,free_by_Peter_Nerlich,Dragonfly_by_Bolly",
    "photo_sky": "Bridge_by_Sander_Klootwijk",
    "photo_room": "Wine_by_Jakkub_Mede",
    "photo_animal": "friends_by_Aitzol_Berasategi",
}
TP = "usr/share/tuxpaint/"
TP_KINDS = {
    "photo_landscape": "templates/{cliff,corn_maze,lighthouse,mudstone,ocean_splash,ocean_waves,redwoods_above,rocks,"
    "sun_behind_clouds,sun_behind_leaves,trees_above,trees_at_dusk,burnt_bark,mossy_bark,mossy_log}.jpg",
    "photo_animal": "{templates/{sheep,jellyfish}.jpg,starters/reef-back.png}",
    "photo_object": "templates/{wool_mill_machine,spiders_web}.jpg",
    "photo_night": "starters/skyline-sf-dusk-back.jpeg",
}
TP_LINES = "nagasaki,pansy,hat,shipwreck,tux_farmer,chicken,jetplane,rocket,frog"  # not the traced photographs
HUGIN = "usr/share/hugin/xrc/data/help_en_EN/"
HUGIN_PHOTOS = (  # photographs and their panoramic projections; not the screenshots, diagrams and side-by-sides
    "800px-C_Marchi-GrandCentral-adj", "150px-Big_ben_*", "Big_ben_*", "600px-Tuebingen_Neckarfront_small15_2006-06-11",
    "Medinet_habu_horizontal_*", "CA_fringes0?", "CA_tCA00", "Aliasing*", "300px-Lamp_enfuse", "250px-TKS-Mmm-*",
    "150px-Ben_*", "360px-Pantheon-150x100-rect-panini", "*LagardePont-*", "250px-Little_planet",
    "300px-2125768589_b", "Vertical-*", "250px-Rectlinear",
)  # fmt: skip
SKI = "usr/lib/python3/dist-packages/skimage/data/"
SKI_KINDS = {
    "photo_people": "astronaut,camera",
    "photo_object": "coffee,coins,motorcycle_left,rocket",
    "photo_animal": "chelsea",
}

PICKS = [
    *(Pick("photo", kind, "endless-sky-data", f"{ES}{prefix}*.jpg", drop=ES_ODD, crop=352)
      for prefix, kind in ES_KINDS.items()),
    *(Pick("photo", "photo_landscape", "endless-sky-data", f"{ES}{prefix}*.jpg", drop=ES_ODD, crop=352)
      for prefix in LANDSCAPES),
    Pick("photo", "photo_people", "kphotoalbum", KP + "*.jpg", drop=("qt-logo", "grand_canyon_1", "grand_canyon_2",
         "grand_canyon_3", "cold_water", "skagen", "skagen_2", "snow", "sunset", "new_wave_1", "spiff", "spiff_2",
         "blackie"), crop=400),
    Pick("photo", "photo_animal", "kphotoalbum", KP + "{blackie,spiff,spiff_2}.jpg", crop=400),
    Pick("photo", "photo_landscape", "kphotoalbum", KP + "{grand_canyon_1,grand_canyon_2,grand_canyon_3,cold_water,"
         "skagen,skagen_2,snow,sunset}.jpg", crop=400),
    Pick("photo", "photo_object", "kphotoalbum", KP + "new_wave_1.jpg", crop=400),
    Pick("photo", "photo_street", "python3-sklearn", "usr/lib/python3/dist-packages/sklearn/datasets/images/china.jpg",
         crop=256),
    Pick("photo", "photo_object", "python3-sklearn", "usr/lib/python3/dist-packages/sklearn/datasets/images/flower.jpg",
         crop=256),
    Pick("photo", "photo_landscape", "renpy-demo", RENPY + "bg {cave,washington,whitehouse}.jpg", crop=512),
    Pick(
        "photo",
        "photo_object",
        "gimp-help-en",
        GIMP + "quickie-{crop-example,flip-example,remove-background,rotate-example}-source.jpg",
    ),
    Pick("photo", "photo_landscape", "gimp-help-en", GIMP + "tone-mapping/{" + ",".join(GIMP_TONES) + "}.jpg"),
    *(Pick("photo", kind, "gimp-help-en", GIMP_IMAGES + name) for kind, name in GIMP_ORIGINALS.items()),
    Pick("photo", "photo_object", "tuxpaint-stamps-default", TUX + "symbols/money/**/*.png", drop=("00_symbols",)),
    Pick("photo", "photo_object", "tuxpaint-stamps-default", TUX + "**/{" + ",".join(TUX_PHOTOS) + "}.png"),
    Pick("cartoon", "clipart", "tuxpaint-stamps-default", TUX + "**/{" + ",".join(TUX_DRAWN) + "}.png"),
    Pick("cartoon", "lineart", "tuxpaint-stamps-default", TUX + "symbols/alphabets/asl/*.png", every=3),
    Pick("cartoon", "anime", "renpy-demo", RENPY + "{eileen,lucy,logo} *.png", drop=("logo bw",)),
    Pick("cartoon", "painted_portrait", "flare-game", FLARE + "*.png"),
    Pick("cartoon", "lineart", "pingus-data", "usr/share/games/pingus/data/images/story/*.png",
         drop=("credits3", "credits4")),
    Pick("cartoon", "anime", "ardentryst", ARDENT + "NPCs/Faces/*.png",
         drop=("glow_texture", "white_aura", "Radkelu")),
    Pick("cartoon", "game_background", "ardentryst", ARDENT + "StorySceneImages/Intro_Kiripan_*.png"),
    Pick("photo", "photo_people", "endless-sky-data", ES_SCENE + "{loc,army,engine}*.jpg"),
    Pick("photo", "photo_people", "python-matplotlib-data", MPL + "grace_hopper.jpg"),
    Pick("photo", "photo_landscape", "pioneers-data", PIONEERS + "{Iceland/*,ccFlickr/lumber}.png",
         drop=("board", "pasture_wool")),
    Pick("photo", "photo_animal", "pioneers-data", PIONEERS + "{Iceland,ccFlickr}/{pasture_wool,wool}.png"),
    Pick("photo", "photo_street", "ultralytics", "ultralytics/assets/bus.jpg"),
    Pick("photo", "photo_people", "ultralytics", "ultralytics/assets/zidane.jpg", crop=512),
    *(
        Pick("cartoon", "clipart", "openclipart-png", f"{CLIPART}{part}/**/*.png", 3, start, drop=CLIPART_ODD)
        for start in (0, 1, 2)
        for part in CLIPART_PARTS
    ),
    Pick("cartoon", "clipart", "openclipart-png", f"{CLIPART}unsorted/**/*.png", 2, drop=CLIPART_ODD),  # half of it
    Pick("cartoon", "game_background", "warmux-data", WARMUX + "*/preview.*", drop=WARMUX_ODD),
    *(Pick("cartoon", "game_background", "teeworlds-data", "usr/share/games/teeworlds/data/mapres/"
         "{jungle_background,mountains,desert_mountains,winter_mountains}.png", crop=crop) for crop in (0, 512)),
    Pick("cartoon", "cartoon", "arcade", ARCADE + "animated_characters/*/*.png", every=2),
    Pick("cartoon", "cartoon", "arcade", ARCADE + "{alien,enemies,items,space_shooter}/*.png"),
    Pick("cartoon", "pixel", "arcade", ARCADE + "cybercity_background/*.png"),
    *(Pick("photo", kind, "lomiri-wallpapers-16.04", WALL + "{" + names + "}.jpg", crop=1024)
      for kind, names in LOMIRI_KINDS.items()),
    Pick("photo", "photo_animal", "lomiri-wallpapers-20.04", WALL + "Kleiber_by_Lukas_Baubkus.jpg", crop=1024),
    Pick("cartoon", "digital_painting", "lomiri-wallpapers-20.04", WALL + "Fossa_by_Jasper_Roks.jpg"),
    Pick("cartoon", "digital_painting", "ukui-wallpapers", WALL + "{calla,goldfish,desert}.png"),
    *(Pick("photo", kind, "tuxpaint-data", TP + names, crop=288) for kind, names in TP_KINDS.items()),
    Pick("cartoon", "lineart", "tuxpaint-data", TP + "starters/{" + TP_LINES + "}.png"),
    Pick("photo", "photo_object", "kalzium-data", "usr/share/kalzium/data/toolpics/*.jpg"),
    *(Pick("photo", "photo_street", "hugin-data", f"{HUGIN}{name}.{{jpg,JPG,png}}",
          drop=("Big_ben_cubic", "Big_ben_ff_fisheye")) for name in HUGIN_PHOTOS),  # a cube-map cross, a drawn frame
    *(Pick("photo", kind, "python3-skimage", SKI + "{" + names + "}.{png,jpg}", crop=256)
      for kind, names in SKI_KINDS.items()),
    *(Pick("cartoon", "game_background", "warmux-data", f"{WARMUX}{name}", crop=crop, most=9)
      for name in WARMUX_LAYERS for crop in (0, 768)),  # the whole layer, and up to nine crops of it
    *(Pick("photo", kind, "endless-sky-high-dpi", f"{ES_HD}{prefix}*@2x.jpg", drop=ES_ODD_HD, crop=352, most=4)
      for prefix, kind in ES_KINDS.items()),
    *(Pick("photo", "photo_landscape", "endless-sky-high-dpi", f"{ES_HD}{prefix}*@2x.jpg", drop=ES_ODD_HD, crop=352,
           most=4) for prefix in LANDSCAPES),
    *(Pick("cartoon", "painted_portrait", "freecol", FREECOL + pattern) for pattern in FREECOL_PAINTED),
    Pick("photo", "photo_people", "freecol", FREECOL + "monarch/geronimo.png"),
    Pick("cartoon", "clipart", "ulcc", ULCC, drop=("Tiger3Lores", "ribbon")),  # a near-photographic tiger, an icon
    Pick("cartoon", "cartoon", "plee-the-bear-data", PLEE + "{intro/intro-*,title_screen/background_1?}.png"),
    Pick("cartoon", "game_background", "flare-game", "usr/share/games/flare/mods/fantasycore/images/menus/"
         "backgrounds/*.png"),
    *(Pick("cartoon", "painted_landscape", "unknown-horizons", UH + "bg_?.png", crop=crop, most=15)
      for crop in (0, 360)),
    Pick("cartoon", "painted_portrait", "lordsawar-data", LORDSAWAR + "{recruit_*,hero-newlevel-*,commentator}.png"),
    Pick("cartoon", "game_background", "lordsawar-data", LORDSAWAR + "{city_occupied,parley_*,ruin_?,ship,"
         "splash_screen,win}.png"),
    Pick("cartoon", "cartoon", "amoebax-data", AMOEBAX + "{" + AMOEBAX_PEOPLE + "}.png"),
    Pick("cartoon", "game_background", "amoebax-data", AMOEBAX + "{Angus,K.Quita,Kerberos,Mr.Bones,Pen,Spike}"
         "Background.png"),
    Pick("cartoon", "game_background", "pekka-kana-2-data", PK2 + "gfx/scenery/{" + PK2_SCENERY + "}.bmp"),
    Pick("cartoon", "cartoon", "pekka-kana-2-data", PK2 + "pekka-kana-2.png"),
    Pick("cartoon", "digital_painting", "raincat-data", RAINCAT + "backgrounds/clouds_background.png"),
    Pick("cartoon", "cartoon", "raincat-data", RAINCAT + "cat/cat-umbrella/cat-{fall-umbrella1,"
         "umbrella1}.png"),
    Pick("cartoon", "game_background", "pingus-data", PINGUS + "{worldmaps/tutorial_layer0.jpg,"
         "core/menu/layer{2,3}.png}"),
    Pick("cartoon", "lineart", "pingus-data", PINGUS + "core/misc/{creditpingu,pingubw}.png"),
    Pick("cartoon", "clipart", "pingus-data", PINGUS + "groundpieces/ground/{jungle/carabatree,"
         "penguinworld/penguin}.png"),
    Pick("photo", "photo_landscape", "sddm-theme-maldives", "usr/share/sddm/themes/maldives/background.jpg", crop=640,
         most=8),
    Pick("photo", "photo_sky", "scribus-template", SCRIBUS + "{br2/{brightness,halfmoon,moon},cal2/moon}.jpg"),
    Pick("photo", "photo_landscape", "scribus-template", SCRIBUS + "br2/{nature,sunset}.jpg", crop=352, most=4),
    Pick("photo", "photo_food", "scribus-template", SCRIBUS + "menu2/pizza.jpg", crop=288, most=4),
    Pick("photo", "photo_food", "scribus-template", SCRIBUS + "menu1{,-bw}/teriyaki{,-bw}.png"),
    Pick("photo", "photo_people", "scribus-template", SCRIBUS + "{nl1-bw/kites-bw.png,"
         "scribus_project_de/craigbradney.jpg}"),
    Pick("photo", "photo_landscape", "digikam-data", "usr/share/digikam/about/images/body-background.jpg", crop=1024),
    Pick("photo", "photo_object", "pychess", "usr/share/pychess/glade/background.jpg", crop=1024),
]  # fmt: skip
