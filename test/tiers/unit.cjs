// mocha --config test/tiers/unit.cjs: the unit tier (test/tiers/tiers.cjs says what it holds).
module.exports = require("./tiers.cjs").tier("unit");
