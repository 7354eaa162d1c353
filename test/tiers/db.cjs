// mocha --config test/tiers/db.cjs: the db tier (test/tiers/tiers.cjs says what it holds).
module.exports = require("./tiers.cjs").tier("db");
